/**
 * Join against real servers: a Directory on a real redis-server, an introducer, and hosts on
 * loopback. A good join registers the newcomer and answers with live peers; every refusal has the
 * status and message DESIGN.md names and leaves the directory exactly as it was.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ServiceError, status } from '@grpc/grpc-js';
import { IntroducerClient } from '../../services/client/introducer-client';
import { generateIdentity } from '../../services/common/identity';
import { Registry } from '../../services/common/metrics';
import { PeerRecord, openRecord, signRecord } from '../../services/common/records';
import { UpdateKind } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import type { RunningIntroducer } from '../../services/introducer/server';
import { codeOf, snapshot, startTestDirectory, type TestDirectory } from '../support/directory';
import { freePort } from '../support/free-port';
import { startFaultProxy } from '../support/fault-proxy';
import { call, hostClient, startTestHost, waitUntil } from '../support/hosts';
import { startTestIntroducer, TEST_INTRODUCER_TOKEN } from '../support/introducers';
import { recordFields, signUnchecked } from '../support/records';
import { startRedisServer, type RedisServer } from '../support/redis-server';

async function joinError(client: IntroducerClient, ...args: Parameters<IntroducerClient['join']>) {
  try {
    await client.join(...args);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the join succeeded but a refusal was expected');
}

describe('Join', () => {
  let redis: RedisServer;
  let dir: TestDirectory;
  let introducer: RunningIntroducer;
  let client: IntroducerClient;
  const hosts: RunningHost[] = [];
  const servers: Server[] = [];
  /** Connections those servers took: closing a server leaves them open, and they would keep the run alive. */
  const accepted: Socket[] = [];
  const registry = new Registry();

  /** The introducer's directory writes of one op, by outcome. */
  async function writes(op: string): Promise<Record<string, number>> {
    const metric = await registry.getSingleMetric('grapevine_introducer_directory_writes_total')!.get();
    return Object.fromEntries(metric.values.filter((v) => v.labels.op === op).map((v) => [v.labels.outcome, v.value]));
  }

  /** A host that is up but has joined nobody: the tests join it by hand. */
  async function loneHost(identity = generateIdentity()): Promise<RunningHost> {
    const host = await startTestHost({}, identity);
    hosts.push(host);
    return host;
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({ redisUrl: redis.url, introducerToken: TEST_INTRODUCER_TOKEN });
    // Joins are what is tested here: the keeper must not evict a member a loaded machine answered
    // late, or a snapshot would change for a reason that has nothing to do with the join.
    // The join rate has a test of its own (below); here many joins come from one address at once.
    introducer = await startTestIntroducer(
      dir.address,
      {
        dialBackTimeoutMs: 1_000,
        memberSuspicionMs: 600_000,
        joinsPerSourcePerSecond: 1_000,
      },
      undefined,
      registry,
    );
    client = new IntroducerClient(introducer.address);
    // The introducer registers itself: wait, so that snapshots start from a settled directory.
    await waitUntil(
      async () => (await codeOf(dir.client.resolve('default', { peerId: introducer.peerId }))) === 'OK',
      10_000,
      'the introducer to register',
    );
  });

  afterAll(async () => {
    client.close();
    accepted.forEach((socket) => socket.destroy());
    servers.forEach((server) => server.close());
    await Promise.all(hosts.map((host) => host.stop()));
    await introducer.stop();
    await dir.stop();
    await redis.stop();
  });

  it('admits a reachable newcomer: registered, introduced, answered with the introducer first', async () => {
    const host = await loneHost();
    const joined = await client.join(host.member.record());
    expect(joined.introducer.record.peerId).toBe(introducer.peerId);
    expect(joined.leaseId).not.toBe('');
    expect(joined.ttlSeconds).toBeGreaterThan(0);
    const peer = await dir.client.resolve('default', { peerId: host.peerId });
    expect(peer.record.addresses).toEqual([host.address]);
    // The newcomer is in the introducer's views now, as a candidate at least.
    expect([...introducer.host.node.activeView(), ...introducer.host.node.passiveView()]).toContain(host.peerId);
    // Joining again with the same record is idempotent: the same lease, no new revision.
    const again = await client.join(host.member.record());
    expect(again.leaseId).toBe(joined.leaseId);
    expect(again.revision).toBe(joined.revision);
  });

  it("opens the answer's records with the opener it is given, each once", async () => {
    const host = await loneHost();
    const opened: string[] = [];
    const opening = new IntroducerClient(introducer.address, {
      openRecord: (signed) => {
        const record = openRecord(signed);
        opened.push(record.peerId);
        return record;
      },
    });
    try {
      const joined = await opening.join(host.member.record());
      expect(opened).toEqual([joined.introducer.record.peerId, ...joined.peers.map((p) => p.record.peerId)]);
    } finally {
      opening.close();
    }
  });

  it('writes a rejoin with a newer record once: its Register, no UpdateRecord the directory would refuse', async () => {
    const identity = generateIdentity();
    const host = await loneHost(identity);
    await client.join(host.member.record());
    const updatesBefore = await writes('update');
    // Signed with the host's key but kept from the host itself: if the host held it, its own
    // gossip could bring it to the introducer before the Join, and that write-through is right.
    const newer = signRecord(identity, recordFields({ addresses: [host.address], seq: Date.now() + 60_000 }));
    const joined = await client.join(newer);
    expect(joined.leaseId).not.toBe('');
    const resolved = await dir.client.resolve('default', { peerId: host.peerId });
    expect(resolved.record.seq).toBe(PeerRecord.decode(newer.record).seq);
    // Introducing the newcomer made gossip report its newer record at once; an UpdateRecord for
    // it would be under way now. Give it time to be answered, then count.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await writes('update')).toEqual(updatesBefore);
  });

  it('leaves a newer record that gossip brings while its own Join is under way to that Join', async () => {
    const identity = generateIdentity();
    const host = await loneHost(identity);
    // The host's records advertise a slow path to it: each dial-back takes a while.
    const proxy = await startFaultProxy({ target: host.address, faults: { latencyMs: 150 } });
    const peer = hostClient(introducer.address);
    const recordAt = (seq: number) => signRecord(identity, recordFields({ addresses: [proxy.address], seq }));
    try {
      await client.join(recordAt(Date.now()));
      await waitUntil(
        () => introducer.host.node.recordOf(host.peerId) !== undefined,
        5_000,
        "the introducer's views to hold the host",
      );
      const newer = recordAt(Date.now() + 60_000);
      const updatesBefore = await writes('update');
      const joining = client.join(newer);
      // Meanwhile a peer gossips the newer record to the introducer.
      const gossiper = generateIdentity();
      await call(peer, peer.gossip, {
        sender: { peerId: gossiper.peerId, address: '127.0.0.1:1' },
        body: {
          $case: 'updates',
          value: {
            updates: [
              {
                kind: UpdateKind.UPDATE_KIND_ALIVE,
                peerId: host.peerId,
                incarnation: (introducer.host.node.peerState(host.peerId)?.incarnation ?? 0) + 1,
                fromPeerId: host.peerId,
                record: newer,
              },
            ],
          },
        },
      });
      expect(introducer.host.node.recordOf(host.peerId)).toEqual(newer);
      expect(introducer.dialBacksInFlight()).toBe(1);
      await joining;
      const resolved = await dir.client.resolve('default', { peerId: host.peerId });
      expect(resolved.record.seq).toBe(PeerRecord.decode(newer.record).seq);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await writes('update')).toEqual(updatesBefore);
    } finally {
      peer.close();
      await proxy.close();
    }
  });

  it('refuses a forged record with PERMISSION_DENIED', async () => {
    const before = await snapshot(dir);
    const host = await loneHost();
    const record = host.member.record();
    const forged = { record: record.record, signature: Buffer.alloc(64, 7) };
    const error = await joinError(client, forged);
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/signature does not verify/);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('refuses a stale seq with FAILED_PRECONDITION', async () => {
    const identity = generateIdentity();
    const host = await loneHost(identity);
    await client.join(host.member.record());
    const before = await snapshot(dir);
    const older = signRecord(identity, recordFields({ addresses: [host.address], seq: 5 }));
    const error = await joinError(client, older);
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toMatch(/older than seq/);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('refuses an advertised address that does not answer, naming it', async () => {
    const before = await snapshot(dir);
    const port = await freePort();
    const record = signRecord(generateIdentity(), recordFields({ addresses: [`127.0.0.1:${port}`], seq: Date.now() }));
    const error = await joinError(client, record);
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain(`dial-back to 127.0.0.1:${port} failed`);
    expect(await snapshot(dir)).toEqual(before);
  });

  it("refuses an address that answers with another peer's identity", async () => {
    const other = await loneHost();
    const before = await snapshot(dir);
    const impostor = generateIdentity();
    const record = signRecord(impostor, recordFields({ addresses: [other.address], seq: Date.now() }));
    const error = await joinError(client, record);
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain(`reached peer ${other.peerId}, not ${impostor.peerId}`);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('refuses the same identity joining from a second address while the first is live', async () => {
    const identity = generateIdentity();
    const first = await loneHost(identity);
    await client.join(first.member.record());
    const second = await loneHost(identity);
    const before = await snapshot(dir);
    const error = await joinError(client, second.member.record());
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain(`is live at ${first.address}; a second instance at ${second.address} was refused`);
    expect(await snapshot(dir)).toEqual(before);
    const held = await dir.client.resolve('default', { peerId: identity.peerId });
    expect(held.record.addresses).toEqual([first.address]);
  });

  it('refuses bad records and requests with INVALID_ARGUMENT, FAILED_PRECONDITION or RESOURCE_EXHAUSTED', async () => {
    const before = await snapshot(dir);
    const identity = generateIdentity();
    const host = await loneHost(identity);
    const malformed = await joinError(client, { record: Buffer.from([0xff, 0xff, 0xff]), signature: Buffer.alloc(64) });
    expect(malformed.code).toBe(status.INVALID_ARGUMENT);
    const withdrawn = signRecord(
      identity,
      recordFields({ addresses: [host.address], seq: Date.now(), withdrawn: true }),
    );
    expect((await joinError(client, withdrawn)).code).toBe(status.INVALID_ARGUMENT);
    const elsewhere = signRecord(
      identity,
      recordFields({ network: 'elsewhere', addresses: [host.address], seq: Date.now() }),
    );
    const otherNetwork = await joinError(client, elsewhere);
    expect(otherNetwork.code).toBe(status.FAILED_PRECONDITION);
    expect(otherNetwork.details).toMatch(/network "elsewhere"/);
    const noAddress = signUnchecked(identity, {
      ...recordFields({ seq: Date.now(), addresses: [] }),
      peerId: identity.peerId,
    });
    expect((await joinError(client, noAddress)).code).toBe(status.INVALID_ARGUMENT);
    const tooMany = await joinError(client, host.member.record(), 10_000);
    expect(tooMany.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(tooMany.details).toMatch(/above the limit of 64 \(maxSampleSize\)/);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('limits dial-backs in flight: a second join waits for none, it is refused', async () => {
    const slow = await startTestIntroducer(dir.address, {
      maxConcurrentDialBacks: 1,
      dialBackTimeoutMs: 3_000,
      memberSuspicionMs: 600_000,
    });
    const slowClient = new IntroducerClient(slow.address);
    try {
      // A listener that accepts and never speaks holds the one dial-back until its deadline.
      const silent = createServer((socket) => accepted.push(socket));
      servers.push(silent);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      const held = signRecord(generateIdentity(), recordFields({ addresses: [`127.0.0.1:${port}`], seq: Date.now() }));
      const first = joinError(slowClient, held);
      await waitUntil(() => slow.dialBacksInFlight() === 1, 5_000, 'the first dial-back to start');
      const before = await snapshot(dir);
      const host = await loneHost();
      const refused = await joinError(slowClient, host.member.record());
      expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(refused.details).toMatch(/maxConcurrentDialBacks/);
      expect((await first).code).toBe(status.FAILED_PRECONDITION);
      expect(await snapshot(dir)).toEqual(before);
    } finally {
      slowClient.close();
      await slow.stop();
    }
  });

  it('bounds a join flood from one address: the rate refuses most, the address limit the rest', async () => {
    const guarded = await startTestIntroducer(dir.address, {
      joinsPerSourcePerSecond: 2,
      maxPeersPerAddress: 64,
      memberSuspicionMs: 600_000,
    });
    const guardedClient = new IntroducerClient(guarded.address);
    try {
      const before = await snapshot(dir);
      // Fresh identities all advertising one address that answers as none of them.
      const target = await loneHost();
      const flood = Array.from({ length: 40 }, () =>
        signRecord(generateIdentity(), recordFields({ addresses: [target.address], seq: Date.now() })),
      );
      const codes = await Promise.all(flood.map((record) => codeOf(guardedClient.join(record))));
      const limited = codes.filter((code) => code === 'RESOURCE_EXHAUSTED').length;
      // Burst of twice the rate: at most four get as far as a dial-back, which fails.
      expect(limited).toBeGreaterThanOrEqual(36);
      expect(codes.filter((code) => code === 'OK')).toHaveLength(0);
      expect((await snapshot(dir)).peers).toEqual(before.peers);
    } finally {
      guardedClient.close();
      await guarded.stop();
    }
  });

  it('refuses joins past the live peers one address may hold', async () => {
    const capped = await startTestIntroducer(dir.address, { maxPeersPerAddress: 1, memberSuspicionMs: 600_000 });
    const cappedClient = new IntroducerClient(capped.address);
    try {
      // Every peer here advertises 127.0.0.1, and several already live in the directory.
      const before = await snapshot(dir);
      const host = await loneHost();
      const error = await joinError(cappedClient, host.member.record());
      expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error.details).toMatch(/live peers already advertise 127\.0\.0\.1.*maxPeersPerAddress/);
      expect(await snapshot(dir)).toEqual(before);
    } finally {
      cappedClient.close();
      await capped.stop();
    }
  });
});
