/**
 * The Directory writes an introducer makes, over real gRPC against each store: a repeated
 * Register (the newcomer and its introducer sharing one lease), UpdateRecord and Evict. Every
 * refusal answers its status and leaves the store as it was.
 */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryClient } from '../../services/client/directory-client';
import { Identity } from '../../services/common/identity';
import { DirectoryServiceClient } from '../../services/gen/grapevine/v1/directory';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { TestDirectory, codeOf, collect, snapshot, startTestDirectory } from '../support/directory';
import { generateIdentity, recordFields, signUnchecked, signed } from '../support/records';

type StoreKind = 'memory' | 'redis';

const TOKEN = 'introducers-only-7c1d';

/** The status details a refused call ends with. */
async function detailsOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return '';
  } catch (error) {
    return (error as ServiceError).details;
  }
}

describe.each<[StoreKind]>([['memory'], ['redis']])('Directory writes for introducers over the %s store', (kind) => {
  let redis: RedisServer | undefined;
  let t: TestDirectory;
  let clockOffsetMs = 0;
  const now = () => Date.now() + clockOffsetMs;

  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    clockOffsetMs = 0;
    t = await startTestDirectory(
      { redisUrl: redis?.url ?? '', sweepIntervalMs: 20, logRetention: 100, introducerToken: TOKEN },
      now,
    );
  });
  /** Waits until the sweeper has ended the peer's lease (the tests move the clock past it). */
  async function untilSwept(peerId: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while ((await codeOf(t.client.resolve('default', { peerId }))) !== 'NOT_FOUND') {
      if (Date.now() > deadline) throw new Error(`peer ${peerId} was not swept`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  afterEach(async () => {
    await t.stop();
    if (redis) {
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
    }
  });

  describe('Register of the record already held', () => {
    test('answers the same lease and revision, pushes the deadline, and appends no event', async () => {
      const newcomer = generateIdentity();
      const record = signed(newcomer, { name: 'newcomer' });
      const { revision: start } = await t.client.listAll('default');
      const watch = collect(t, { fromRevision: start });
      // The introducer registers the newcomer, then the newcomer registers itself.
      const introducer = new DirectoryClient(t.address);
      const first = await introducer.register(record, 10);
      clockOffsetMs = 4_000;
      const second = await t.client.register(record, 20);
      introducer.close();
      expect(second).toEqual({ leaseId: first.leaseId, revision: first.revision, ttlSeconds: 20 });
      const held = await t.client.resolve('default', { peerId: newcomer.peerId });
      expect(held.revision).toBe(first.revision);
      expect(held.ttlRemainingMs).toBeGreaterThan(15_000);
      expect(await t.client.renew(first.leaseId)).toBe(20);
      expect((await t.client.listAll('default')).revision).toBe(first.revision);

      // The next change is the next revision: no event stood for the repeat.
      const other = await t.client.register(signed(generateIdentity()), 10);
      expect(other.revision).toBe(first.revision + 1);
      const changes = await watch.until(2);
      expect(changes.map((change) => [change.type, change.peerId, change.revision])).toEqual([
        ['put', newcomer.peerId, first.revision],
        ['put', changes[1].peerId, first.revision + 1],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(watch.changes).toHaveLength(2);
      await watch.stop();
    });

    test('is a stale seq once the lease has ended', async () => {
      const peer = generateIdentity();
      const record = signed(peer, { seq: 2 });
      const { leaseId } = await t.client.register(record, 5);
      clockOffsetMs = 5_500;
      await untilSwept(peer.peerId);
      expect(await codeOf(t.client.register(record, 5))).toBe('FAILED_PRECONDITION');
      expect(await codeOf(t.client.renew(leaseId))).toBe('NOT_FOUND');
      expect((await snapshot(t)).peers.map((entry) => entry.id)).not.toContain(peer.peerId);
    });
  });

  describe('UpdateRecord', () => {
    test('replaces the record, keeps the lease and its deadline, moves the name, and emits a PUT', async () => {
      const peer = generateIdentity();
      const lease = await t.client.register(signed(peer, { name: 'web', seq: 1 }), 10);
      const watch = collect(t, { fromRevision: lease.revision });
      clockOffsetMs = 3_000;
      // Relayed by someone other than the peer: the signature is the peer's.
      const relay = new DirectoryClient(t.address);
      const revision = await relay.updateRecord(
        signed(peer, { name: 'web-2', seq: 2, addresses: ['127.0.0.1:7002'], labels: { zone: 'b' } }),
      );
      relay.close();
      expect(revision).toBe(lease.revision + 1);

      const held = await t.client.resolve('default', { peerId: peer.peerId });
      expect(held.record.seq).toBe(2);
      expect(held.record.addresses).toEqual(['127.0.0.1:7002']);
      expect(held.revision).toBe(revision);
      // The deadline did not move: about 7 of the 10 s are left.
      expect(held.ttlRemainingMs).toBeLessThanOrEqual(7_000);
      expect(held.ttlRemainingMs).toBeGreaterThan(6_000);
      expect((await t.client.resolve('default', { name: 'web-2' })).record.peerId).toBe(peer.peerId);
      expect(await codeOf(t.client.resolve('default', { name: 'web' }))).toBe('NOT_FOUND');
      expect(await t.client.renew(lease.leaseId)).toBe(10);

      const [change] = await watch.until(1);
      await watch.stop();
      expect([change.type, change.peerId, change.revision, change.record.seq]).toEqual([
        'put',
        peer.peerId,
        revision,
        2,
      ]);
    });
  });

  describe('Evict', () => {
    test('with the held seq: a DELETE with reason evicted, the name freed, the lease ended, a seq floor left', async () => {
      const peer = generateIdentity();
      const original = signed(peer, { name: 'gone', seq: 3 });
      const lease = await t.client.register(original, 30);
      const watch = collect(t, { fromRevision: lease.revision });
      const revision = await t.client.evict('default', peer.peerId, 3, TOKEN);
      expect(revision).toBe(lease.revision + 1);
      const [change] = await watch.until(1);
      await watch.stop();
      expect([change.type, change.reason, change.peerId, change.revision, change.record.seq]).toEqual([
        'delete',
        'evicted',
        peer.peerId,
        revision,
        3,
      ]);
      expect(await codeOf(t.client.resolve('default', { peerId: peer.peerId }))).toBe('NOT_FOUND');
      expect(await codeOf(t.client.resolve('default', { name: 'gone' }))).toBe('NOT_FOUND');
      expect(await codeOf(t.client.renew(lease.leaseId))).toBe('NOT_FOUND');

      // The floor: the evicted record cannot come back; a newer one can.
      expect(await codeOf(t.client.register(original, 30))).toBe('FAILED_PRECONDITION');
      expect(await codeOf(t.client.register(signed(peer, { name: 'gone', seq: 4 }), 30))).toBe('OK');
    });
  });

  describe('refusals: a clear status and no change', () => {
    let holder: Identity;
    let holderLease: string;
    beforeEach(async () => {
      holder = generateIdentity();
      holderLease = (await t.client.register(signed(holder, { name: 'taken', seq: 5 }), 30)).leaseId;
    });

    async function refused(call: () => Promise<unknown>): Promise<string> {
      const before = await snapshot(t);
      const code = await codeOf(call());
      expect(await snapshot(t)).toEqual(before);
      expect(await t.client.renew(holderLease)).toBe(30);
      return code;
    }

    test('Register of another record with the held seq: FAILED_PRECONDITION', async () => {
      expect(
        await refused(() =>
          t.client.register(signed(holder, { name: 'taken', seq: 5, addresses: ['127.0.0.1:7999'] }), 30),
        ),
      ).toBe('FAILED_PRECONDITION');
    });

    test('UpdateRecord of a peer that is not live: NOT_FOUND', async () => {
      expect(await refused(() => t.client.updateRecord(signed(generateIdentity(), { seq: 2 })))).toBe('NOT_FOUND');
      const ending = generateIdentity();
      await t.client.register(signed(ending, { seq: 1 }), 5);
      clockOffsetMs = 5_500;
      await untilSwept(ending.peerId);
      expect(await refused(() => t.client.updateRecord(signed(ending, { seq: 2 })))).toBe('NOT_FOUND');
    });

    test('UpdateRecord with a seq not above the held one: FAILED_PRECONDITION', async () => {
      const same = signed(holder, { name: 'taken', seq: 5 });
      expect(await refused(() => t.client.updateRecord(same))).toBe('FAILED_PRECONDITION');
      const older = signed(holder, { name: 'taken', seq: 4, addresses: ['127.0.0.1:7004'] });
      expect(await refused(() => t.client.updateRecord(older))).toBe('FAILED_PRECONDITION');
    });

    test('UpdateRecord whose signature does not verify, or for another id: PERMISSION_DENIED', async () => {
      const good = signed(holder, { name: 'taken', seq: 6 });
      const flipped = Buffer.from(good.signature);
      flipped[0] ^= 1;
      expect(await refused(() => t.client.updateRecord({ record: good.record, signature: flipped }))).toBe(
        'PERMISSION_DENIED',
      );
      const forged = signUnchecked(generateIdentity(), { ...recordFields({ seq: 9 }), peerId: holder.peerId });
      expect(await refused(() => t.client.updateRecord(forged))).toBe('PERMISSION_DENIED');
    });

    test('UpdateRecord with a withdrawn, malformed or missing record: INVALID_ARGUMENT', async () => {
      const withdrawn = signed(holder, { seq: 6, withdrawn: true, addresses: [] });
      expect(await refused(() => t.client.updateRecord(withdrawn))).toBe('INVALID_ARGUMENT');
      const malformed = { record: Buffer.from([0x0a, 0xff]), signature: Buffer.alloc(64) };
      expect(await refused(() => t.client.updateRecord(malformed))).toBe('INVALID_ARGUMENT');
      const raw = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
      const missing = new Promise((resolve, reject) =>
        raw.updateRecord({}, (error, value) => (error ? reject(error) : resolve(value))),
      );
      expect(await refused(() => missing)).toBe('INVALID_ARGUMENT');
      raw.close();
    });

    test('UpdateRecord to a name another live peer holds: ALREADY_EXISTS', async () => {
      const peer = generateIdentity();
      await t.client.register(signed(peer, { name: 'mine', seq: 1 }), 30);
      expect(await refused(() => t.client.updateRecord(signed(peer, { name: 'taken', seq: 2 })))).toBe(
        'ALREADY_EXISTS',
      );
    });

    test('Evict without the token: UNAUTHENTICATED; with a wrong one: PERMISSION_DENIED', async () => {
      expect(await refused(() => t.client.evict('default', holder.peerId, 5, ''))).toBe('UNAUTHENTICATED');
      expect(await refused(() => t.client.evict('default', holder.peerId, 5, `${TOKEN}x`))).toBe('PERMISSION_DENIED');
      // Not a bearer token at all.
      const raw = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
      const metadata = new Metadata();
      metadata.set('authorization', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`);
      const basic = new Promise((resolve, reject) =>
        raw.evict({ network: 'default', peerId: holder.peerId, seq: 5 }, metadata, (error, value) =>
          error ? reject(error) : resolve(value),
        ),
      );
      expect(await refused(() => basic)).toBe('UNAUTHENTICATED');
      raw.close();
    });

    test('Evict on a directory without an introducer token: PERMISSION_DENIED naming the setting', async () => {
      const off = await startTestDirectory({ redisUrl: redis?.url ?? '' });
      try {
        const before = await snapshot(t);
        const call = off.client.evict('default', holder.peerId, 5, TOKEN);
        expect(await codeOf(call)).toBe('PERMISSION_DENIED');
        expect(await detailsOf(off.client.evict('default', holder.peerId, 5, TOKEN))).toContain('introducerToken');
        expect(await snapshot(t)).toEqual(before);
      } finally {
        await off.stop();
      }
    });

    test('Evict of a peer that is not live: NOT_FOUND', async () => {
      expect(await refused(() => t.client.evict('default', generateIdentity().peerId, 1, TOKEN))).toBe('NOT_FOUND');
      expect(await refused(() => t.client.evict('elsewhere', holder.peerId, 5, TOKEN))).toBe('NOT_FOUND');
    });

    test('Evict of a seq the directory does not hold: FAILED_PRECONDITION naming both seqs', async () => {
      for (const seq of [4, 6]) {
        expect(await refused(() => t.client.evict('default', holder.peerId, seq, TOKEN))).toBe('FAILED_PRECONDITION');
        const details = await detailsOf(t.client.evict('default', holder.peerId, seq, TOKEN));
        expect(details).toContain(`seq ${seq}`);
        expect(details).toContain('seq 5');
      }
    });

    test('Evict with a bad network, peer id or seq: INVALID_ARGUMENT', async () => {
      expect(await refused(() => t.client.evict('Bad Network', holder.peerId, 5, TOKEN))).toBe('INVALID_ARGUMENT');
      expect(await refused(() => t.client.evict('default', 'not-a-peer-id', 5, TOKEN))).toBe('INVALID_ARGUMENT');
      expect(await refused(() => t.client.evict('default', holder.peerId, 0, TOKEN))).toBe('INVALID_ARGUMENT');
    });
  });
});
