/**
 * The hostile peer of the hostile suites: many identities it made itself, each with a validly
 * signed record at an address it picks, and raw Host calls in their names. Nothing here goes
 * through a real host: the attacker speaks the protocol directly.
 */
import { Server, ServerCredentials, ServerUnaryCall, ServiceError, sendUnaryData, status } from '@grpc/grpc-js';
import { generateIdentity, type Identity } from '../../services/common/identity';
import { signRecord, type SignedRecord } from '../../services/common/records';
import {
  ExchangeKind,
  HandshakeIntent,
  HostServiceClient,
  HostServiceService,
  type ExchangePeersRequest,
  type HandshakeResponse,
  type PingRequest,
  type PingResponse,
  type GossipRequest,
  type HandshakeRequest,
  type Sender,
} from '../../services/gen/grapevine/v1/host';
import { call, hostClient } from '../support/hosts';

export class Sybils {
  readonly identities: Identity[];
  private readonly addresses: string[];
  private readonly seqs: number[];
  private readonly latest: (SignedRecord | undefined)[] = [];

  /** `count` fresh identities; `addressOf(i)` is where identity i says it listens. */
  constructor(
    count: number,
    addressOf: (i: number) => string,
    private readonly network = 'default',
  ) {
    this.identities = Array.from({ length: count }, () => generateIdentity());
    this.addresses = this.identities.map((_, i) => addressOf(i));
    this.seqs = this.identities.map(() => 0);
  }

  get size(): number {
    return this.identities.length;
  }

  id(i: number): string {
    return this.identities[i].peerId;
  }

  ids(): Set<string> {
    return new Set(this.identities.map((identity) => identity.peerId));
  }

  sender(i: number): Sender {
    return { peerId: this.id(i), address: this.addresses[i] };
  }

  /** The last record identity i signed, or its first. */
  current(i: number): SignedRecord {
    return this.latest[i] ?? this.record(i);
  }

  /** A record of identity i with the next seq; `address` moves it. */
  record(i: number, address?: string): SignedRecord {
    if (address !== undefined) this.addresses[i] = address;
    return (this.latest[i] = signRecord(this.identities[i], {
      network: this.network,
      name: '',
      addresses: [this.addresses[i]],
      labels: {},
      seq: ++this.seqs[i],
      issuedAtMs: Date.now(),
      withdrawn: false,
    }));
  }
}

/** The code name a call ended with ("OK" included), and its message. */
export async function attempt<Req, Res>(
  client: HostServiceClient,
  method: Parameters<typeof call<Req, Res>>[1],
  request: Req,
): Promise<{ code: string; details: string }> {
  try {
    await call(client, method, request);
    return { code: 'OK', details: '' };
  } catch (error) {
    return { code: status[(error as ServiceError).code], details: (error as ServiceError).details };
  }
}

/** Raw Host calls to one victim, in the names of the attacker's identities. */
export class AttackerLink {
  readonly client: HostServiceClient;

  constructor(address: string) {
    this.client = hostClient(address);
  }

  close(): void {
    this.client.close();
  }

  /** Identity i asks to join (a JOIN handshake with its record). */
  join(s: Sybils, i: number, record = s.record(i)) {
    const request: HandshakeRequest = { sender: s.sender(i), record, intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN };
    return attempt(this.client, this.client.handshake, request);
  }

  /** Identity i asks to become a neighbour. */
  neighbour(s: Sybils, i: number, record = s.record(i)) {
    const request: HandshakeRequest = {
      sender: s.sender(i),
      record,
      intent: HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR_URGENT,
    };
    return attempt(this.client, this.client.handshake, request);
  }

  /** A shuffle from identity i carrying `records`, to be answered (ttl 0). */
  shuffle(s: Sybils, i: number, records: SignedRecord[]) {
    const request: ExchangePeersRequest = {
      sender: s.sender(i),
      kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE,
      records,
      incarnations: [],
      origin: s.sender(i),
      ttl: 0,
      neighbor: false,
    };
    return attempt(this.client, this.client.exchangePeers, request);
  }

  /** A push-pull from identity i: its own record first, then `records` as its neighbours'. */
  pushPull(s: Sybils, i: number, records: SignedRecord[], own = s.record(i)) {
    const request: ExchangePeersRequest = {
      sender: s.sender(i),
      kind: ExchangeKind.EXCHANGE_KIND_PUSH_PULL,
      records: [own, ...records],
      incarnations: [],
      ttl: 0,
      neighbor: false,
    };
    return attempt(this.client, this.client.exchangePeers, request);
  }

  /** Identity i introduces `record` (anyone's). */
  introduce(s: Sybils, i: number, record: SignedRecord) {
    const request: GossipRequest = { sender: s.sender(i), body: { $case: 'introduction', value: { record } } };
    return attempt(this.client, this.client.gossip, request);
  }
}

/** Counts of each code in a list of outcomes, e.g. "OK 10, RESOURCE_EXHAUSTED 490". */
export function countCodes(outcomes: readonly { code: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { code } of outcomes) counts.set(code, (counts.get(code) ?? 0) + 1);
  return counts;
}

export function formatCounts(counts: ReadonlyMap<string, number>): string {
  return [...counts].map(([code, n]) => `${code} ${n}`).join(', ');
}

/**
 * Free loopback ports for `count` attacker identities, each answered by one gRPC server that
 * speaks as the identity whose port was dialled (the :authority tells which): a dial-back or a
 * probe reaches "that peer". Only Handshake and Ping are served.
 */
export async function listeningSybils(
  count: number,
  network = 'default',
): Promise<{ sybils: Sybils; close(): Promise<void> }> {
  const server = new Server();
  const byPort = new Map<number, number>();
  let sybils: Sybils | undefined;
  const who = (call: { getHost(): string }) => byPort.get(Number(call.getHost().split(':').pop())) ?? -1;
  server.addService(HostServiceService, {
    handshake: (call: ServerUnaryCall<unknown, HandshakeResponse>, callback: sendUnaryData<HandshakeResponse>) => {
      const i = who(call);
      if (i < 0 || !sybils) callback({ code: status.NOT_FOUND, details: 'no identity at this port' });
      else callback(null, { record: sybils.current(i), accepted: false });
    },
    ping: (call: ServerUnaryCall<PingRequest, PingResponse>, callback: sendUnaryData<PingResponse>) => {
      const i = who(call);
      if (i < 0 || !sybils) callback({ code: status.NOT_FOUND, details: 'no identity at this port' });
      else
        callback(null, {
          sender: sybils.sender(i),
          seq: call.request.seq,
          incarnation: 0,
          notNeighbor: true,
          updates: [],
        });
    },
  });
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    byPort.set(port, i);
    ports.push(port);
  }
  sybils = new Sybils(count, (i) => `127.0.0.1:${ports[i]}`, network);
  return {
    sybils,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
