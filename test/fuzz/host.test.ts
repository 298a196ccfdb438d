/**
 * Property-based fuzzing of every Host RPC against a real host over real gRPC: peer calls from
 * senders real, forged or malformed, carrying records forged, tampered, replayed, stale, of other
 * networks or over the bounds, with hostile TTLs, hops, seqs, kinds and sizes; application calls
 * with boundary payloads and ids; and bytes that are no request at all. After each case:
 *
 * - the call ended with a code its RPC may answer (never UNKNOWN, INTERNAL or a hang);
 * - the host still answers its health check and Peers;
 * - its views hold (test/fuzz/view-invariants.ts): bounded, diverse, only verified records.
 *
 * The host runs with the view diversity rule on (2 peers per address group) and fast probes, and
 * one honest neighbour, so floods and sends have somewhere real to go.
 */
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { silentLogger } from '../../services/common/logging';
import { Registry } from '../../services/common/metrics';
import {
  ExchangePeersRequest,
  FloodRequest,
  GossipRequest,
  HandshakeRequest,
  IndirectPingRequest,
  MembershipUpdate,
  PeersResponse,
  PingRequest,
  PushRequest,
  SendRequest,
  Sender,
} from '../../services/gen/grapevine/v1/host';
import { hostConfig } from '../../services/host/config';
import { MAX_RECORDS_PER_CALL, MAX_UPDATES_PER_CALL } from '../../services/host/service';
import { startHost, type RunningHost } from '../../services/host/server';
import { localConfig } from '../../services/membership/config';
import { MAX_ANNOUNCED_IDS } from '../../services/membership/flood-tree';
import { waitUntil } from '../support/hosts';
import {
  codes,
  expectAllowed,
  fuzzSettings,
  hostileBytes,
  mutate,
  mutation,
  OutcomeTally,
  RawClient,
  type Mutation,
  type Outcome,
} from './fuzz-harness';
import { RecordPool, recordPlan, type RecordPlan } from './fuzz-records';
import { viewProblems } from './view-invariants';

const SERVICE = '/grapevine.v1.HostService/';
const NETWORK = 'fuzz';
const POOL_SIZE = 8;
const MAX_PAYLOAD = 1_024;
const MAX_TTL = 8;

const PEER = codes('OK', 'INVALID_ARGUMENT', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'RESOURCE_EXHAUSTED');
/** What each RPC may answer, from README's Host API table. */
const ALLOWED: Record<string, ReadonlySet<status>> = {
  Handshake: PEER,
  Ping: PEER,
  IndirectPing: PEER,
  ExchangePeers: PEER,
  Gossip: PEER,
  Push: PEER,
  Send: codes(
    'OK',
    'INVALID_ARGUMENT',
    'NOT_FOUND',
    'FAILED_PRECONDITION',
    'RESOURCE_EXHAUSTED',
    'UNAVAILABLE',
    'PERMISSION_DENIED',
  ),
  Flood: codes('OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'PERMISSION_DENIED'),
  // PERMISSION_DENIED: on the peer port, which takes no application call.
  Receive: codes('OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'PERMISSION_DENIED'),
  Peers: codes('OK', 'INVALID_ARGUMENT', 'PERMISSION_DENIED'),
};
const METHODS = Object.keys(ALLOWED);

// ---- plans --------------------------------------------------------------------------------------

type SenderPlan = { readonly who: number; readonly kind: 'pool' | 'self' | 'bad-id' | 'bad-address' | 'missing' };

interface UpdatePlan {
  readonly kind: number;
  readonly peer: 'pool' | 'self' | 'bad';
  readonly who: number;
  readonly incarnation: number;
  readonly from: 'pool' | 'bad';
  readonly record?: RecordPlan;
}

type Case =
  | {
      readonly rpc: 'Handshake';
      readonly sender: SenderPlan;
      readonly record: RecordPlan;
      /** Most handshakes present the sender's own record; the rest someone else's. */
      readonly own: boolean;
      readonly intent: number;
    }
  | {
      readonly rpc: 'Ping' | 'IndirectPing';
      readonly sender: SenderPlan;
      readonly seq: number;
      readonly neighbor: boolean;
      readonly target: SenderPlan;
      readonly updates: readonly UpdatePlan[];
      readonly many: boolean;
    }
  | {
      readonly rpc: 'ExchangePeers';
      readonly sender: SenderPlan;
      readonly kind: number;
      readonly records: readonly RecordPlan[];
      /** One per record, none, or a count that does not match (INVALID_ARGUMENT). */
      readonly incarnations: 'each' | 'none' | 'mismatched';
      readonly many: boolean;
      readonly origin: SenderPlan;
      readonly ttl: number;
      /** Push-pull's link claim: the receiver may take the sender in, or tell it to disconnect. */
      readonly neighbor: boolean;
    }
  | { readonly rpc: 'Gossip'; readonly sender: SenderPlan; readonly body: GossipBody }
  | { readonly rpc: 'Push'; readonly messages: readonly PushPlan[] }
  | {
      readonly rpc: 'Send';
      readonly sender?: SenderPlan;
      readonly to: 'self' | 'pool' | 'neighbour' | 'bad';
      readonly who: number;
      readonly payload: number;
      readonly messageId: number;
    }
  | {
      readonly rpc: 'Flood';
      readonly sender?: SenderPlan;
      readonly ttl: number;
      readonly hops: number;
      readonly payload: number;
      readonly messageId: number;
      readonly origin: 'pool' | 'bad';
      readonly who: number;
    }
  | { readonly rpc: 'Receive' | 'Peers'; readonly bytes: Buffer }
  | { readonly rpc: 'raw'; readonly method: string; readonly bytes: Buffer }
  | { readonly rpc: 'mutate'; readonly inner: Case; readonly mutation: Mutation };

type GossipBody =
  | { readonly kind: 'updates'; readonly updates: readonly UpdatePlan[]; readonly many: boolean }
  | { readonly kind: 'forwardJoin'; readonly record: RecordPlan; readonly ttl: number }
  | { readonly kind: 'disconnect' }
  | { readonly kind: 'introduction'; readonly record: RecordPlan }
  | { readonly kind: 'floodPrune' }
  | { readonly kind: 'floodAnnounce'; readonly ids: readonly number[]; readonly many: boolean }
  | { readonly kind: 'floodGraft'; readonly id: number }
  | { readonly kind: 'none' };

type PushPlan =
  | { readonly kind: 'gossip'; readonly sender: SenderPlan; readonly body: GossipBody }
  | {
      readonly kind: 'flood';
      readonly sender?: SenderPlan;
      readonly ttl: number;
      readonly hops: number;
      readonly payload: number;
      readonly messageId: number;
      readonly origin: 'pool' | 'bad';
      readonly who: number;
    }
  | {
      readonly kind: 'exchange';
      readonly sender: SenderPlan;
      readonly exchangeKind: number;
      readonly records: readonly RecordPlan[];
    }
  | { readonly kind: 'empty' }
  | { readonly kind: 'raw'; readonly bytes: Buffer };

const who = fc.nat({ max: POOL_SIZE - 1 });
const sender: fc.Arbitrary<SenderPlan> = fc.record({
  who,
  kind: fc.oneof(
    { arbitrary: fc.constant('pool' as const), weight: 20 },
    {
      arbitrary: fc.constantFrom('self' as const, 'bad-id' as const, 'bad-address' as const, 'missing' as const),
      weight: 1,
    },
  ),
});
const record = recordPlan(POOL_SIZE);
const update: fc.Arbitrary<UpdatePlan> = fc.record(
  {
    kind: fc.constantFrom(1, 1, 2, 3, 0, 7),
    peer: fc.constantFrom('pool' as const, 'pool' as const, 'self' as const, 'bad' as const),
    who,
    incarnation: fc.constantFrom(0, 1, 2, 2 ** 32, Number.MAX_SAFE_INTEGER),
    from: fc.constantFrom('pool' as const, 'pool' as const, 'bad' as const),
    record,
  },
  { requiredKeys: ['kind', 'peer', 'who', 'incarnation', 'from'] },
);
const updates = fc.array(update, { maxLength: 3 });
const ttl = fc.constantFrom(0, 1, 3, 16, 17, 2 ** 32 - 1);
const floodTtl = fc.constantFrom(0, 1, MAX_TTL - 1, MAX_TTL, MAX_TTL + 1, 255, 2 ** 32 - 1);
const hops = fc.constantFrom(0, 1, 2, MAX_TTL, MAX_TTL + 1);
const payload = fc.constantFrom(0, 1, 100, MAX_PAYLOAD, MAX_PAYLOAD + 1, 40_000);
const messageId = fc.constantFrom(0, 1, 2, 3, 128, 129);
const gossipBody: fc.Arbitrary<GossipBody> = fc.oneof(
  fc.record({ kind: fc.constant('updates' as const), updates, many: fc.boolean() }),
  fc.record({ kind: fc.constant('forwardJoin' as const), record, ttl }),
  fc.record({ kind: fc.constant('disconnect' as const) }),
  fc.record({ kind: fc.constant('introduction' as const), record }),
  fc.record({ kind: fc.constant('floodPrune' as const) }),
  fc.record({
    kind: fc.constant('floodAnnounce' as const),
    ids: fc.array(messageId, { maxLength: 4 }),
    many: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
  }),
  fc.record({ kind: fc.constant('floodGraft' as const), id: messageId }),
  fc.record({ kind: fc.constant('none' as const) }),
);
const floodFields = {
  ttl: floodTtl,
  hops,
  payload,
  messageId,
  origin: fc.constantFrom('pool' as const, 'pool' as const, 'bad' as const),
  who,
};
const pushPlan: fc.Arbitrary<PushPlan> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('gossip' as const), sender, body: gossipBody }), weight: 4 },
  {
    arbitrary: fc.record(
      { kind: fc.constant('flood' as const), sender, ...floodFields },
      { requiredKeys: ['kind', 'ttl', 'hops', 'payload', 'messageId', 'origin', 'who'] },
    ),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('exchange' as const),
      sender,
      exchangeKind: fc.constantFrom(0, 1, 2, 3, 4, 9),
      records: fc.array(record, { maxLength: 3 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('empty' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('raw' as const), bytes: hostileBytes }), weight: 1 },
);

const wellFormed: fc.Arbitrary<Case> = fc.oneof(
  {
    arbitrary: fc.record({
      rpc: fc.constant('Handshake' as const),
      sender,
      record,
      own: fc.oneof({ arbitrary: fc.constant(true), weight: 9 }, { arbitrary: fc.constant(false), weight: 1 }),
      intent: fc.constantFrom(0, 1, 2, 3, 4, 4, 9),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constantFrom('Ping' as const, 'Ping' as const, 'IndirectPing' as const),
      sender,
      seq: fc.constantFrom(0, 1, 2 ** 32 - 1),
      neighbor: fc.boolean(),
      target: sender,
      updates,
      many: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constant('ExchangePeers' as const),
      sender,
      kind: fc.constantFrom(0, 1, 1, 2, 3, 3, 4, 9),
      neighbor: fc.boolean(),
      records: fc.array(record, { maxLength: 4 }),
      incarnations: fc.constantFrom('each' as const, 'none' as const, 'mismatched' as const),
      many: fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 }),
      origin: sender,
      ttl,
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ rpc: fc.constant('Gossip' as const), sender, body: gossipBody }), weight: 5 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('Push' as const),
      messages: fc.array(pushPlan, { minLength: 1, maxLength: 3 }),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record(
      {
        rpc: fc.constant('Send' as const),
        sender,
        to: fc.constantFrom('self' as const, 'pool' as const, 'neighbour' as const, 'bad' as const),
        who,
        payload,
        messageId,
      },
      { requiredKeys: ['rpc', 'to', 'who', 'payload', 'messageId'] },
    ),
    weight: 3,
  },
  {
    arbitrary: fc.record(
      { rpc: fc.constant('Flood' as const), sender, ...floodFields },
      { requiredKeys: ['rpc', 'ttl', 'hops', 'payload', 'messageId', 'origin', 'who'] },
    ),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constantFrom('Receive' as const, 'Peers' as const),
      bytes: fc.oneof(fc.constant(Buffer.alloc(0)), hostileBytes),
    }),
    weight: 1,
  },
);

/** Incarnations beside `count` records: one each (from small to the largest safe), none, or one too many. */
function incarnationsFor(count: number, plan: 'each' | 'none' | 'mismatched'): number[] {
  if (plan === 'none') return [];
  const each = Array.from({ length: count }, (_, i) => (i === 0 ? Number.MAX_SAFE_INTEGER : i));
  return plan === 'each' ? each : [...each, 1];
}

/**
 * Which listener a case goes to: mostly the one its call belongs on (an application's Send or
 * Flood has no sender), sometimes the other, whose refusal must be as clean.
 */
type Listener = 'peer' | 'application';
const listenerChoice = fc.oneof(
  { arbitrary: fc.constant('own' as const), weight: 4 },
  { arbitrary: fc.constant('other' as const), weight: 1 },
);

function ownListener(c: Case): Listener {
  const method = c.rpc === 'raw' ? c.method : c.rpc === 'mutate' ? c.inner.rpc : c.rpc;
  if (method === 'Receive' || method === 'Peers') return 'application';
  if (c.rpc === 'Send' || c.rpc === 'Flood') return c.sender && c.sender.kind !== 'missing' ? 'peer' : 'application';
  return 'peer';
}

const hostCase: fc.Arbitrary<Case> = fc.oneof(
  { arbitrary: wellFormed, weight: 20 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('raw' as const),
      method: fc.constantFrom(...METHODS),
      bytes: hostileBytes,
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ rpc: fc.constant('mutate' as const), inner: wellFormed, mutation }), weight: 4 },
);

// ---- the suite ----------------------------------------------------------------------------------------

describe('fuzz: Host', () => {
  const settings = fuzzSettings('host');
  let host: RunningHost;
  let neighbour: RunningHost;
  /** Clients of the host's two listeners. */
  let raw: RawClient;
  let rawApp: RawClient;

  const start = (seeds: string[] = []) =>
    startHost(
      hostConfig({
        grpcPort: 0,
        appPort: 0,
        metrics: false,
        plaintext: true,
        network: NETWORK,
        logLevel: 'silent',
        seeds,
        maxPayloadBytes: MAX_PAYLOAD,
        maxFloodTtlHops: MAX_TTL,
        // The rate limit has its own test (test/hostile); here every call reaches its checks.
        peerCallsPerSecond: 1_000_000,
        callTimeoutMs: 500,
        shutdownGraceMs: 500,
      }),
      {
        log: silentLogger(),
        registry: new Registry(),
        // Diversity on (the local profile turns it off for loopback), and short probe waits.
        membership: localConfig({ maxPeersPerAddressGroup: 2, probeTimeoutMs: 50 }),
      },
    );

  beforeAll(async () => {
    host = await start();
    neighbour = await start([host.address]);
    await waitUntil(() => host.node.activeView().includes(neighbour.peerId), 10_000, 'the neighbour to join');
    raw = new RawClient(host.address);
    rawApp = new RawClient(host.appAddress!);
  });

  afterAll(async () => {
    raw?.close();
    rawApp?.close();
    await neighbour?.stop();
    await host?.stop();
  });

  test(
    'every request ends with its status, the host stays up, and its views stay bounded and verified',
    async () => {
      const pool = new RecordPool({ seedByte: 2, size: POOL_SIZE, home: NETWORK, second: 'fuzz-b' });
      const tally = new OutcomeTally();
      let floods = 0;

      const senderOf = (plan: SenderPlan | undefined): Sender | undefined => {
        if (!plan) return undefined;
        switch (plan.kind) {
          case 'pool':
            return { peerId: pool.id(plan.who), address: `127.0.${plan.who}.1:${7_000 + plan.who}` };
          case 'self':
            return { peerId: host.peerId, address: host.address };
          case 'bad-id':
            return { peerId: 'b-not-a-peer', address: '127.0.0.1:1' };
          case 'bad-address':
            return { peerId: pool.id(plan.who), address: 'nowhere' };
          case 'missing':
            return undefined;
        }
      };
      const updatesOf = (plans: readonly UpdatePlan[], many: boolean): MembershipUpdate[] => {
        const list = plans.map((u): MembershipUpdate => ({
          kind: u.kind,
          peerId: u.peer === 'pool' ? pool.id(u.who) : u.peer === 'self' ? host.peerId : 'x',
          incarnation: u.incarnation,
          fromPeerId: u.from === 'pool' ? pool.id(u.who + 1) : '',
          record: u.record && pool.materialize(u.record),
        }));
        if (!many) return list;
        const extra = { kind: 1, peerId: pool.id(0), incarnation: 1, fromPeerId: pool.id(1) };
        return [...list, ...Array.from({ length: MAX_UPDATES_PER_CALL + 1 }, () => extra)];
      };
      const idOf = (n: number) => ['', 'm', `m-${floods++}`, `dup-${n}`, 'i'.repeat(128), 'i'.repeat(129)][n % 6];
      const gossipOf = (s: SenderPlan, body: GossipBody): GossipRequest => {
        const from = senderOf(s);
        switch (body.kind) {
          case 'updates':
            return { sender: from, body: { $case: 'updates', value: { updates: updatesOf(body.updates, body.many) } } };
          case 'forwardJoin':
            return {
              sender: from,
              body: { $case: 'forwardJoin', value: { record: pool.materialize(body.record), ttl: body.ttl } },
            };
          case 'disconnect':
            return { sender: from, body: { $case: 'disconnect', value: {} } };
          case 'introduction':
            return { sender: from, body: { $case: 'introduction', value: { record: pool.materialize(body.record) } } };
          case 'floodPrune':
            return { sender: from, body: { $case: 'floodPrune', value: {} } };
          case 'floodAnnounce': {
            // Past the limit: MAX_ANNOUNCED_IDS + 1 good ids (RESOURCE_EXHAUSTED).
            const ids = body.many
              ? Array.from({ length: MAX_ANNOUNCED_IDS + 1 }, (_, i) => `a${i}`)
              : body.ids.map(idOf);
            return { sender: from, body: { $case: 'floodAnnounce', value: { messageIds: ids } } };
          }
          case 'floodGraft':
            return { sender: from, body: { $case: 'floodGraft', value: { messageId: idOf(body.id) } } };
          case 'none':
            return { sender: from, body: undefined };
        }
      };
      const floodOf = (f: Omit<Extract<Case, { rpc: 'Flood' }>, 'rpc'>): FloodRequest => ({
        sender: senderOf(f.sender),
        messageId: idOf(f.messageId),
        ttl: f.ttl,
        hops: f.hops,
        payload: Buffer.alloc(f.payload, 0x66),
        originPeerId: f.origin === 'pool' ? pool.id(f.who) : 'origin',
      });
      const bytesOf = (message: { finish(): Uint8Array }) => Buffer.from(message.finish());

      /** The method and request bytes (several for Push) of a well-formed case. */
      const encode = (c: Case): { method: string; messages: Buffer[] } => {
        switch (c.rpc) {
          case 'Handshake':
            return {
              method: c.rpc,
              messages: [
                bytesOf(
                  HandshakeRequest.encode({
                    sender: senderOf(c.sender),
                    record: pool.materialize(c.own ? { ...c.record, who: c.sender.who } : c.record),
                    intent: c.intent,
                  }),
                ),
              ],
            };
          case 'Ping':
            return {
              method: c.rpc,
              messages: [
                bytesOf(
                  PingRequest.encode({
                    sender: senderOf(c.sender),
                    seq: c.seq,
                    neighbor: c.neighbor,
                    updates: updatesOf(c.updates, c.many),
                  }),
                ),
              ],
            };
          case 'IndirectPing':
            return {
              method: c.rpc,
              messages: [
                bytesOf(
                  IndirectPingRequest.encode({
                    sender: senderOf(c.sender),
                    seq: c.seq,
                    target: senderOf(c.target),
                    updates: updatesOf(c.updates, c.many),
                  }),
                ),
              ],
            };
          case 'ExchangePeers': {
            const records = c.records.map((r) => pool.materialize(r)).filter((r) => r !== undefined);
            const own =
              c.sender.kind === 'pool'
                ? [pool.sign(c.sender.who, { addresses: [`127.0.${c.sender.who}.1:${7_000 + c.sender.who}`] })]
                : [];
            const all = c.many
              ? Array.from({ length: MAX_RECORDS_PER_CALL + 1 }, () => own[0] ?? pool.sign(0))
              : [...(c.kind === 3 || c.kind === 4 ? own : []), ...records];
            return {
              method: c.rpc,
              messages: [
                bytesOf(
                  ExchangePeersRequest.encode({
                    sender: senderOf(c.sender),
                    kind: c.kind,
                    records: all,
                    incarnations: incarnationsFor(all.length, c.incarnations),
                    origin: senderOf(c.origin),
                    ttl: c.ttl,
                    neighbor: c.neighbor,
                  }),
                ),
              ],
            };
          }
          case 'Gossip':
            return { method: c.rpc, messages: [bytesOf(GossipRequest.encode(gossipOf(c.sender, c.body)))] };
          case 'Push':
            return {
              method: c.rpc,
              messages: c.messages.map((m) => {
                switch (m.kind) {
                  case 'gossip':
                    return bytesOf(
                      PushRequest.encode({ message: { $case: 'gossip', value: gossipOf(m.sender, m.body) } }),
                    );
                  case 'flood':
                    return bytesOf(PushRequest.encode({ message: { $case: 'flood', value: floodOf(m) } }));
                  case 'exchange':
                    return bytesOf(
                      PushRequest.encode({
                        message: {
                          $case: 'exchangePeers',
                          value: {
                            sender: senderOf(m.sender),
                            kind: m.exchangeKind,
                            records: m.records.map((r) => pool.materialize(r)).filter((r) => r !== undefined),
                            incarnations: [],
                            ttl: 1,
                            neighbor: false,
                            origin: senderOf(m.sender),
                          },
                        },
                      }),
                    );
                  case 'empty':
                    return bytesOf(PushRequest.encode({ message: undefined }));
                  case 'raw':
                    return m.bytes;
                }
              }),
            };
          case 'Send': {
            const to = { self: host.peerId, pool: pool.id(c.who), neighbour: neighbour.peerId, bad: 'someone' }[c.to];
            return {
              method: c.rpc,
              messages: [
                bytesOf(
                  SendRequest.encode({
                    sender: senderOf(c.sender),
                    toPeerId: to,
                    payload: Buffer.alloc(c.payload, 0x73),
                    messageId: idOf(c.messageId),
                  }),
                ),
              ],
            };
          }
          case 'Flood':
            return { method: c.rpc, messages: [bytesOf(FloodRequest.encode(floodOf(c)))] };
          case 'Receive':
          case 'Peers':
            return { method: c.rpc, messages: [c.bytes] };
          default:
            throw new Error(`not a well-formed case: ${c.rpc}`);
        }
      };

      const send = (to: RawClient, method: string, messages: Buffer[]): Promise<Outcome> => {
        if (method === 'Push') return to.clientStream(SERVICE + method, messages);
        if (method === 'Receive') return to.openStream(SERVICE + method, messages[0]);
        return to.unary(SERVICE + method, messages[0]);
      };

      const runCase = async (c: Case, choice: 'own' | 'other') => {
        const own = ownListener(c);
        const listener: Listener = choice === 'own' ? own : own === 'peer' ? 'application' : 'peer';
        let method: string;
        let messages: Buffer[];
        let label: string;
        if (c.rpc === 'raw') {
          method = c.method;
          messages = [c.bytes];
          label = `${method} (raw)`;
        } else if (c.rpc === 'mutate') {
          const encoded = encode(c.inner);
          method = encoded.method;
          messages = encoded.messages.map((m, i) => (i === 0 ? mutate(m, c.mutation) : m));
          label = `${method} (mutated: ${c.mutation.how})`;
        } else {
          ({ method, messages } = encode(c));
          label = method;
        }

        const outcome = await send(listener === 'peer' ? raw : rawApp, method, messages);
        tally.add(listener === 'peer' ? method : `${method} (application port)`, outcome.code, outcome.details);
        // A stream is judged message by message: only its first decides whether the bound is hit first.
        expectAllowed(label, outcome, ALLOWED[method], messages[0].length);

        expect(await raw.health()).toBe('SERVING');
        const peers = await rawApp.unary(`${SERVICE}Peers`, Buffer.alloc(0));
        expect(status[peers.code]).toBe('OK');
        expect(PeersResponse.decode(peers.response!).peerId).toBe(host.peerId);
        const problems = viewProblems(host.node, NETWORK);
        if (problems.length > 0) throw new Error(`after ${label} (${status[outcome.code]}): ${problems.join('; ')}`);
      };

      await fc.assert(fc.asyncProperty(hostCase, listenerChoice, runCase), {
        seed: settings.seed,
        numRuns: settings.runs,
        endOnFailure: true,
      });
      console.info(`fuzz host outcomes:\n${tally}`);
      expect(tally.count('Handshake', 'OK')).toBeGreaterThan(0);
      expect(
        tally.count('Handshake', 'PERMISSION_DENIED') + tally.count('Gossip', 'PERMISSION_DENIED'),
      ).toBeGreaterThan(0);
      // Both listeners served their own calls.
      expect(tally.count('Peers (application port)', 'OK')).toBeGreaterThan(0);
      // The honest neighbour is still a neighbour: the fuzzing did not cut the host off.
      expect(viewProblems(neighbour.node, NETWORK)).toEqual([]);
    },
    settings.timeoutMs,
  );
});
