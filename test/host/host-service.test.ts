/**
 * The Host service against bad input, over real gRPC: each refusal carries the status DESIGN.md
 * names and a message a person can act on, the host's views stay as they were, and it keeps
 * answering afterwards.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { generateIdentity } from '../../services/common/identity';
import { signRecord } from '../../services/common/records';
import {
  ExchangeKind,
  HandshakeIntent,
  HostServiceClient,
  UpdateKind,
  type GossipRequest,
  type PushRequest,
  type Sender,
} from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import { activePeers, appClient, call, callError, hostClient, startTestHost, waitUntil } from '../support/hosts';
import { recordFields, signUnchecked } from '../support/records';
import { PeerRecord } from '../../services/common/records';

describe('Host service refuses bad input', () => {
  const bIdentity = generateIdentity();
  let a: RunningHost;
  let b: RunningHost;
  let client: HostServiceClient;
  /** The application listener's client: Send and Flood without a sender, Receive, Peers. */
  let app: HostServiceClient;
  let bSender: Sender;

  beforeAll(async () => {
    a = await startTestHost({ peerCallsPerSecond: 50, maxPayloadBytes: 1_024, maxFloodTtlHops: 8 });
    b = await startTestHost({ seeds: [a.address] }, bIdentity);
    client = hostClient(a.address);
    app = appClient(a);
    bSender = { peerId: b.peerId, address: b.address };
    await waitUntil(() => a.node.activeView().includes(b.peerId), 10_000, 'a and b to become neighbours');
  });

  afterAll(async () => {
    client.close();
    app.close();
    await Promise.all([a.stop(), b.stop()]);
  });

  /** The peers a knows, to show a refused call changed nothing. */
  const known = () => [...a.node.activeView(), ...a.node.passiveView()].sort();

  function stranger() {
    const identity = generateIdentity();
    const fields = recordFields({ addresses: ['127.0.0.1:1'], seq: Date.now() });
    return {
      identity,
      sender: { peerId: identity.peerId, address: '127.0.0.1:1' },
      record: signRecord(identity, fields),
    };
  }

  it('answers a records-only handshake with its own record', async () => {
    const s = stranger();
    const response = await call(client, client.handshake, { sender: s.sender, record: s.record, intent: 0 });
    expect(PeerRecord.decode(response.record!.record).peerId).toBe(a.peerId);
    expect(response.accepted).toBe(false);
  });

  it('refuses an unsigned record with PERMISSION_DENIED', async () => {
    const before = known();
    const s = stranger();
    const error = await callError(client, client.handshake, {
      sender: s.sender,
      record: { record: s.record.record, signature: Buffer.alloc(0) },
      intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN,
    });
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/signature does not verify/);
    expect(known()).toEqual(before);
  });

  it('refuses a record forged for another peer id with PERMISSION_DENIED', async () => {
    const before = known();
    const forger = generateIdentity();
    const forged = signUnchecked(forger, {
      ...recordFields({ seq: Date.now(), addresses: ['127.0.0.1:1'] }),
      peerId: b.peerId,
    });
    const error = await callError(client, client.handshake, {
      sender: bSender,
      record: forged,
      intent: HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR,
    });
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(known()).toEqual(before);
  });

  it("refuses a sender presenting another peer's record with PERMISSION_DENIED", async () => {
    const s = stranger();
    const error = await callError(client, client.handshake, {
      sender: bSender,
      record: s.record,
      intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN,
    });
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/may only present its own record/);
  });

  it('refuses a stale record (older seq than known) with FAILED_PRECONDITION', async () => {
    const old = signRecord(bIdentity, recordFields({ seq: 1, addresses: [b.address] }));
    const error = await callError(client, client.handshake, {
      sender: bSender,
      record: old,
      intent: HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR,
    });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/older than seq/);
    const pushPull = await callError(client, client.exchangePeers, {
      sender: bSender,
      kind: ExchangeKind.EXCHANGE_KIND_PUSH_PULL,
      records: [old],
      incarnations: [],
      ttl: 0,
      neighbor: false,
    });
    expect(pushPull.code).toBe(status.FAILED_PRECONDITION);
  });

  it('refuses a record of another network with FAILED_PRECONDITION', async () => {
    const identity = generateIdentity();
    const record = signRecord(
      identity,
      recordFields({ network: 'elsewhere', seq: Date.now(), addresses: ['127.0.0.1:1'] }),
    );
    const error = await callError(client, client.handshake, {
      sender: { peerId: identity.peerId, address: '127.0.0.1:1' },
      record,
      intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN,
    });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/network "elsewhere"/);
  });

  it('refuses a shuffle carrying one relayed record with a changed byte', async () => {
    const before = known();
    const good = stranger().record;
    const tampered = stranger().record;
    const bytes = Buffer.from(tampered.record);
    bytes[bytes.length - 1] ^= 1;
    const error = await callError(client, client.exchangePeers, {
      sender: bSender,
      kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE,
      records: [good, { record: bytes, signature: tampered.signature }],
      incarnations: [],
      origin: bSender,
      ttl: 0,
      neighbor: false,
    });
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/records\[1\]/);
    expect(known()).toEqual(before);
  });

  it('refuses incarnations that do not pair one to one with the records, and takes those that do', async () => {
    const before = known();
    const [first, second] = [stranger(), stranger()];
    const error = await callError(client, client.exchangePeers, {
      sender: bSender,
      kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY,
      records: [first.record, second.record],
      incarnations: [7],
      ttl: 0,
      neighbor: false,
    });
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe('incarnations must be empty or one per record: 2 records, 1 incarnations');
    expect(known()).toEqual(before);
    await call(client, client.exchangePeers, {
      sender: bSender,
      kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY,
      records: [first.record, second.record],
      incarnations: [7, 0],
      ttl: 0,
      neighbor: false,
    });
    expect(a.node.peerState(first.identity.peerId)?.incarnation).toBe(7);
    expect(a.node.peerState(second.identity.peerId)?.incarnation).toBe(0);
  });

  it('refuses a piggybacked update whose record does not verify', async () => {
    const s = stranger();
    const error = await callError(client, client.gossip, {
      sender: bSender,
      body: {
        $case: 'updates',
        value: {
          updates: [
            {
              kind: UpdateKind.UPDATE_KIND_ALIVE,
              peerId: s.identity.peerId,
              incarnation: 1,
              fromPeerId: s.identity.peerId,
              record: { record: s.record.record, signature: Buffer.alloc(64) },
            },
          ],
        },
      },
    });
    expect(error.code).toBe(status.PERMISSION_DENIED);
  });

  it('refuses calls without a sender, or a sender posing as the host itself', async () => {
    const missing = await callError(client, client.ping, { seq: 1, neighbor: false, updates: [] });
    expect(missing.code).toBe(status.INVALID_ARGUMENT);
    expect(missing.details).toMatch(/sender is missing/);
    const self = await callError(client, client.ping, {
      sender: { peerId: a.peerId, address: a.address },
      seq: 1,
      neighbor: false,
      updates: [],
    });
    expect(self.code).toBe(status.PERMISSION_DENIED);
  });

  it('refuses a flood TTL above the maximum with INVALID_ARGUMENT, from the application and from a peer', async () => {
    const local = await callError(app, app.flood, {
      messageId: '',
      ttl: 9,
      hops: 0,
      payload: Buffer.from('x'),
      originPeerId: '',
    });
    expect(local.code).toBe(status.INVALID_ARGUMENT);
    expect(local.details).toMatch(/above the maximum of 8/);
    const relayed = await callError(client, client.flood, {
      sender: bSender,
      messageId: 'm1',
      ttl: 200,
      hops: 1,
      payload: Buffer.from('x'),
      originPeerId: b.peerId,
    });
    expect(relayed.code).toBe(status.INVALID_ARGUMENT);
  });

  it('refuses flood tree messages naming no flood, an over-long id, or too many ids', async () => {
    const s = stranger();
    const gossip = (body: GossipRequest['body']) => callError(client, client.gossip, { sender: s.sender, body });
    const noId = await gossip({ $case: 'floodGraft', value: { messageId: '' } });
    expect(noId.code).toBe(status.INVALID_ARGUMENT);
    expect(noId.details).toBe('flood_graft.message_id is required');
    const long = await gossip({ $case: 'floodAnnounce', value: { messageIds: ['ok', 'x'.repeat(129)] } });
    expect(long.code).toBe(status.INVALID_ARGUMENT);
    expect(long.details).toBe('flood_announce.message_ids[1] is longer than 128 characters');
    const many = await gossip({
      $case: 'floodAnnounce',
      value: { messageIds: Array.from({ length: 257 }, (_, i) => `m${i}`) },
    });
    expect(many.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(many.details).toBe('257 message ids in one announcement; at most 256 are allowed');
  });

  it('refuses over-size payloads and messages with RESOURCE_EXHAUSTED', async () => {
    const big = Buffer.alloc(2_000);
    const flood = await callError(app, app.flood, {
      messageId: '',
      ttl: 0,
      hops: 0,
      payload: big,
      originPeerId: '',
    });
    expect(flood.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(flood.details).toMatch(/at most 1024/);
    const send = await callError(app, app.send, { toPeerId: b.peerId, payload: big, messageId: '' });
    expect(send.code).toBe(status.RESOURCE_EXHAUSTED);
    // Past the gRPC message bound the transport itself refuses.
    const huge = await callError(app, app.send, {
      toPeerId: b.peerId,
      payload: Buffer.alloc(200_000),
      messageId: '',
    });
    expect(huge.code).toBe(status.RESOURCE_EXHAUSTED);
    const records = await callError(client, client.exchangePeers, {
      sender: bSender,
      kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY,
      records: Array.from({ length: 65 }, () => ({ record: Buffer.from('x'), signature: Buffer.alloc(64) })),
      incarnations: [],
      ttl: 0,
      neighbor: false,
    });
    expect(records.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  /**
   * `count` calls of a fresh peer at once, against a budget of 50 a second with a burst of 100:
   * the bucket starts full, so the first 100 pass, and over the burst's own duration it can refill
   * by no more than 50 a second. Bounds taken from the measured duration keep the check true on a
   * slow machine, where the calls spread out.
   */
  async function burstAgainstBudget(count: number, make: (i: number) => Promise<unknown>) {
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => make(i)));
    const elapsedS = (performance.now() - started) / 1_000;
    const refused = results.filter(
      (r): r is PromiseRejectedResult =>
        r.status === 'rejected' && (r.reason as { code: number }).code === status.RESOURCE_EXHAUSTED,
    );
    const passed = results.filter((r) => r.status === 'fulfilled').length;
    expect(passed + refused.length).toBe(count);
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(passed).toBeLessThanOrEqual(100 + Math.ceil(50 * elapsedS) + 1);
    expect(refused.length).toBeGreaterThan(0);
    return refused;
  }

  it('refuses a peer calling beyond its rate with RESOURCE_EXHAUSTED', async () => {
    const s = stranger();
    const refused = await burstAgainstBudget(200, () =>
      call(client, client.gossip, { sender: s.sender, body: { $case: 'updates', value: { updates: [] } } }),
    );
    expect(refused[0]!.reason.details).toMatch(/exceeded 50 membership calls per second/);
  });

  it("keeps a peer's membership calls within budget while its floods are refused", async () => {
    const s = stranger();
    const refused = await burstAgainstBudget(200, (i) =>
      call(client, client.flood, {
        sender: s.sender,
        messageId: `storm-${s.identity.peerId}-${i}`,
        ttl: 2,
        hops: 1,
        payload: Buffer.from('x'),
        originPeerId: s.identity.peerId,
      }),
    );
    expect(refused[0]!.reason.details).toMatch(/exceeded 50 application messages per second/);
    // The application budget is spent; the same peer's gossip still goes through, every call of it.
    const gossip = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        call(client, client.gossip, { sender: s.sender, body: { $case: 'updates', value: { updates: [] } } }),
      ),
    );
    expect(gossip.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
  });

  it('refuses direct messages for another peer, and unknown or malformed targets', async () => {
    const s = stranger();
    const misrouted = await callError(client, client.send, {
      sender: bSender,
      toPeerId: s.identity.peerId,
      payload: Buffer.from('x'),
      messageId: 'm',
    });
    expect(misrouted.code).toBe(status.FAILED_PRECONDITION);
    const unknown = await callError(app, app.send, {
      toPeerId: s.identity.peerId,
      payload: Buffer.from('x'),
      messageId: '',
    });
    expect(unknown.code).toBe(status.NOT_FOUND);
    expect(unknown.details).toMatch(/not in this host's views/);
    const malformed = await callError(app, app.send, {
      toPeerId: 'nope',
      payload: Buffer.from('x'),
      messageId: '',
    });
    expect(malformed.code).toBe(status.INVALID_ARGUMENT);
  });

  it('checks each Push stream message as its unary twin, ending the stream at the first refusal', async () => {
    const s = stranger();
    const pushed = (messages: PushRequest[]) =>
      new Promise<{ code: number; details: string }>((resolve) => {
        const stream = client.push(new Metadata(), { deadline: Date.now() + 5_000 }, (error) =>
          resolve({ code: error?.code ?? status.OK, details: error?.details ?? '' }),
        );
        for (const message of messages) stream.write(message);
        stream.end();
      });
    const fine = await pushed([
      { message: { $case: 'gossip', value: { sender: bSender, body: { $case: 'updates', value: { updates: [] } } } } },
    ]);
    expect(fine.code).toBe(status.OK);
    const empty = await pushed([{}]);
    expect(empty.code).toBe(status.INVALID_ARGUMENT);
    expect(empty.details).toMatch(/push message is empty/);
    const pushPull = await pushed([
      {
        message: {
          $case: 'exchangePeers',
          value: {
            sender: bSender,
            kind: ExchangeKind.EXCHANGE_KIND_PUSH_PULL,
            records: [],
            incarnations: [],
            ttl: 0,
            neighbor: false,
          },
        },
      },
    ]);
    expect(pushPull.code).toBe(status.INVALID_ARGUMENT);
    expect(pushPull.details).toMatch(/call ExchangePeers, not Push/);
    const before = known();
    const forged = await pushed([
      { message: { $case: 'gossip', value: { sender: bSender, body: { $case: 'updates', value: { updates: [] } } } } },
      {
        message: {
          $case: 'exchangePeers',
          value: {
            sender: bSender,
            kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE,
            records: [{ record: s.record.record, signature: Buffer.alloc(64) }],
            incarnations: [],
            origin: bSender,
            ttl: 0,
            neighbor: false,
          },
        },
      },
    ]);
    expect(forged.code).toBe(status.PERMISSION_DENIED);
    expect(known()).toEqual(before);
    const flood = await pushed([
      {
        message: {
          $case: 'flood',
          value: { messageId: 'p1', ttl: 200, hops: 1, payload: Buffer.from('x'), originPeerId: b.peerId },
        },
      },
    ]);
    expect(flood.code).toBe(status.INVALID_ARGUMENT);
    expect(flood.details).toMatch(/must name its sender/);
  });

  it('still serves after all of it: b is still its neighbour', async () => {
    const peers = await call(app, app.peers, {});
    expect(activePeers(peers)).toContain(b.peerId);
    expect(peers.peerId).toBe(a.peerId);
  });
});

describe('Receive streams', () => {
  it('are served up to maxReceiveStreams at once; one more answers RESOURCE_EXHAUSTED, and an ended one frees its place', async () => {
    const host = await startTestHost({ maxReceiveStreams: 2 });
    const client = appClient(host);
    const open = () => {
      const stream = client.receive({});
      const outcome = new Promise<string>((resolve) => {
        stream.on('metadata', () => resolve('open'));
        stream.on('error', (error: { code: number; details: string }) =>
          resolve(`${status[error.code]}: ${error.details}`),
        );
      });
      return { stream, outcome };
    };
    try {
      const first = open();
      const second = open();
      expect([await first.outcome, await second.outcome]).toEqual(['open', 'open']);
      const third = open();
      expect(await third.outcome).toMatch(/^RESOURCE_EXHAUSTED: 2 Receive streams are open.*maxReceiveStreams/);

      first.stream.cancel();
      let again = '';
      await waitUntil(
        async () => {
          const attempt = open();
          again = await attempt.outcome;
          if (again === 'open') attempt.stream.cancel();
          return again === 'open';
        },
        5_000,
        'a Receive stream to open once another ended',
      );
      expect(again).toBe('open');
      second.stream.cancel();
    } finally {
      client.close();
      await host.stop();
    }
  });
});

describe('the peer port and the application listener', () => {
  let a: RunningHost;
  let b: RunningHost;
  let peerPort: HostServiceClient;
  let app: HostServiceClient;
  let bApp: HostServiceClient;

  beforeAll(async () => {
    // The peers' port on another loopback address: the application listener stays on 127.0.0.1.
    a = await startTestHost({ host: '127.0.0.2' });
    b = await startTestHost({ seeds: [a.address] });
    peerPort = hostClient(a.address);
    app = appClient(a);
    bApp = appClient(b);
    await waitUntil(() => a.node.activeView().includes(b.peerId), 10_000, 'a and b to become neighbours');
  });

  afterAll(async () => {
    for (const c of [peerPort, app, bApp]) c.close();
    await Promise.all([a.stop(), b.stop()]);
  });

  it('binds the application listener to loopback, apart from the peer port', async () => {
    expect(a.address).toMatch(/^127\.0\.0\.2:\d+$/);
    expect(a.appAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const appPort = a.appAddress!.split(':')[1];
    const elsewhere = hostClient(`127.0.0.2:${appPort}`);
    try {
      expect((await callError(elsewhere, elsewhere.peers, {})).code).toBe(status.UNAVAILABLE);
    } finally {
      elsewhere.close();
    }
  });

  it("refuses the application's calls on the peer port with PERMISSION_DENIED, starting nothing", async () => {
    const peers = await callError(peerPort, peerPort.peers, {});
    expect(peers.code).toBe(status.PERMISSION_DENIED);
    expect(peers.details).toMatch(/^Peers is an application call: make it on this host's application port \(appPort/);
    const send = await callError(peerPort, peerPort.send, {
      toPeerId: b.peerId,
      payload: Buffer.from('x'),
      messageId: 'from-the-peer-port',
    });
    expect(send.code).toBe(status.PERMISSION_DENIED);
    expect(send.details).toMatch(/^Send without a sender is an application call/);
    const flood = await callError(peerPort, peerPort.flood, {
      messageId: 'flood-from-the-peer-port',
      ttl: 0,
      hops: 0,
      payload: Buffer.from('x'),
      originPeerId: '',
    });
    expect(flood.code).toBe(status.PERMISSION_DENIED);
    const receive = await new Promise<{ code: number; details: string }>((resolve) =>
      peerPort.receive({}).on('error', resolve),
    );
    expect(receive.code).toBe(status.PERMISSION_DENIED);
    expect(receive.details).toMatch(/^Receive is an application call/);

    // Nothing of the refused calls went out: b's first message is the one sent through the listener.
    const stream = bApp.receive({});
    stream.on('error', () => {}); // the cancel below
    const first = new Promise<string>((resolve) =>
      stream.on('data', (message: { messageId: string }) => resolve(message.messageId)),
    );
    await new Promise((resolve) => stream.once('metadata', resolve));
    await call(app, app.send, { toPeerId: b.peerId, payload: Buffer.from('x'), messageId: 'from-the-app' });
    expect(await first).toBe('from-the-app');
    stream.cancel();
  });

  it("refuses the peers' calls on the application listener, and a sender on its messages", async () => {
    const ping = await callError(app, app.ping, {
      sender: { peerId: b.peerId, address: b.address },
      seq: 1,
      neighbor: false,
      updates: [],
    });
    expect(ping.code).toBe(status.PERMISSION_DENIED);
    expect(ping.details).toBe(
      "Ping is a peer call: peers make it on the host's peer port (grpcPort), not on the application port",
    );
    const push = await new Promise<{ code: number; details: string }>((resolve) => {
      const stream = app.push(new Metadata(), (error) =>
        resolve(error as unknown as { code: number; details: string }),
      );
      stream.write({ message: { $case: 'gossip', value: { sender: { peerId: b.peerId, address: b.address } } } });
    });
    expect(push.code).toBe(status.PERMISSION_DENIED);
    expect(push.details).toMatch(/^Push is a peer call/);
    const relayed = await callError(app, app.flood, {
      sender: { peerId: b.peerId, address: b.address },
      messageId: 'relayed-to-the-app-port',
      ttl: 2,
      hops: 1,
      payload: Buffer.from('x'),
      originPeerId: b.peerId,
    });
    expect(relayed.code).toBe(status.INVALID_ARGUMENT);
    expect(relayed.details).toMatch(/^sender is set, but the application port takes the application's own messages/);
  });
});
