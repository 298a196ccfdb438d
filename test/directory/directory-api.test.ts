/**
 * The Directory over real gRPC on loopback, against each store: the memory store and a real
 * redis-server. Every bad input is answered with its status and leaves the store unchanged.
 */
import { Redis } from 'ioredis';
import { Identity } from '../../services/common/identity';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { TestDirectory, codeOf, collect, snapshot, startTestDirectory } from '../support/directory';
import { generateIdentity, recordFields, signUnchecked, signed } from '../support/records';

type StoreKind = 'memory' | 'redis';

describe.each<[StoreKind]>([['memory'], ['redis']])('Directory API over the %s store', (kind) => {
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
    t = await startTestDirectory({ redisUrl: redis?.url ?? '', sweepIntervalMs: 20, logRetention: 100 }, now);
  });
  afterEach(async () => {
    await t.stop();
    if (redis) {
      const admin = new Redis(redis.url);
      await admin.flushall();
      admin.disconnect();
    }
  });

  test('register, resolve by id and by name, list, renew, deregister', async () => {
    const alice = generateIdentity();
    const lease = await t.client.register(signed(alice, { name: 'alice', labels: { zone: 'eu-1' } }), 10);
    expect(lease.ttlSeconds).toBe(10);
    expect(lease.leaseId).toMatch(/^default\./);

    const byId = await t.client.resolve('default', { peerId: alice.peerId });
    expect(byId.record.name).toBe('alice');
    expect(byId.revision).toBe(lease.revision);
    expect(byId.ttlRemainingMs).toBeGreaterThan(8_000);
    expect((await t.client.resolve('default', { name: 'alice' })).record.peerId).toBe(alice.peerId);

    expect(await t.client.renew(lease.leaseId)).toBe(10);
    const { peers } = await t.client.listAll('default');
    expect(peers.map((peer) => peer.record.peerId)).toEqual([alice.peerId]);

    await t.client.deregister(signed(alice, { seq: 2, withdrawn: true, addresses: [] }));
    expect(await codeOf(t.client.resolve('default', { peerId: alice.peerId }))).toBe('NOT_FOUND');
    expect(await codeOf(t.client.resolve('default', { name: 'alice' }))).toBe('NOT_FOUND');
    expect(await codeOf(t.client.renew(lease.leaseId))).toBe('NOT_FOUND');
  });

  test('a newer record replaces the old one and ends its lease', async () => {
    const bob = generateIdentity();
    const first = await t.client.register(signed(bob, { seq: 1 }), 10);
    const second = await t.client.register(signed(bob, { seq: 2, addresses: ['127.0.0.1:7001'] }), 10);
    expect(second.revision).toBe(first.revision + 1);
    expect((await t.client.resolve('default', { peerId: bob.peerId })).record.addresses).toEqual(['127.0.0.1:7001']);
    expect(await codeOf(t.client.renew(first.leaseId))).toBe('NOT_FOUND');
    expect(await codeOf(t.client.renew(second.leaseId))).toBe('OK');
  });

  test('names: first live peer wins, a peer may rename itself, a name frees when its lease ends', async () => {
    const [a, b] = [generateIdentity(), generateIdentity()];
    await t.client.register(signed(a, { name: 'web' }), 5);
    expect(await codeOf(t.client.register(signed(b, { name: 'web' }), 5))).toBe('ALREADY_EXISTS');

    await t.client.register(signed(a, { seq: 2, name: 'web-old' }), 5);
    await t.client.register(signed(b, { name: 'web' }), 5);
    expect((await t.client.resolve('default', { name: 'web' })).record.peerId).toBe(b.peerId);
    expect((await t.client.resolve('default', { name: 'web-old' })).record.peerId).toBe(a.peerId);

    // Watch from a revision read before the leases end, so the deletes cannot slip in before it.
    const { revision } = await t.client.listAll('default');
    const watch = collect(t, { fromRevision: revision });
    clockOffsetMs = 6_000; // both leases are now past their deadline
    const deletes = await watch.until(2);
    await watch.stop();
    expect(deletes.map((change) => [change.type, change.reason]).sort()).toEqual([
      ['delete', 'expired'],
      ['delete', 'expired'],
    ]);
    expect(await codeOf(t.client.resolve('default', { name: 'web' }))).toBe('NOT_FOUND');
    const c = generateIdentity();
    expect(await codeOf(t.client.register(signed(c, { name: 'web' }), 5))).toBe('OK');
  });

  test('a lost lease answers NOT_FOUND and expiry emits a DELETE on Watch', async () => {
    const peer = generateIdentity();
    const { revision, peers } = await t.client.listAll('default');
    expect(peers).toEqual([]);
    const watch = collect(t, { fromRevision: revision });
    const lease = await t.client.register(signed(peer), 5);
    clockOffsetMs = 5_500;
    const [put, del] = await watch.until(2);
    await watch.stop();
    expect([put.type, put.revision]).toEqual(['put', lease.revision]);
    expect([del.type, del.reason, del.peerId, del.revision]).toEqual([
      'delete',
      'expired',
      peer.peerId,
      lease.revision + 1,
    ]);
    expect(await codeOf(t.client.renew(lease.leaseId))).toBe('NOT_FOUND');
  });

  test('list then watch from its revision misses nothing and repeats nothing', async () => {
    const ids = Array.from({ length: 5 }, () => generateIdentity());
    for (const id of ids.slice(0, 3)) await t.client.register(signed(id), 30);
    const listed = await t.client.listAll('default');
    const watch = collect(t, { fromRevision: listed.revision });
    for (const id of ids.slice(3)) await t.client.register(signed(id), 30);
    await t.client.deregister(signed(ids[0], { seq: 2, withdrawn: true, addresses: [] }));
    const changes = await watch.until(3);

    const state = new Map(listed.peers.map((peer) => [peer.record.peerId, peer.record.seq]));
    for (const change of changes) {
      if (change.type === 'put') state.set(change.peerId, change.record.seq);
      else state.delete(change.peerId);
    }
    const now = await t.client.listAll('default');
    expect([...state.keys()].sort()).toEqual(now.peers.map((peer) => peer.record.peerId).sort());
    expect(changes.map((change) => change.revision)).toEqual([
      listed.revision + 1,
      listed.revision + 2,
      listed.revision + 3,
    ]);
    // Nothing more arrives: no repeats.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(watch.changes).toHaveLength(3);
    await watch.stop();
  });

  test('watchers joining a busy network from old, recent and current revisions each see every change once, in order', async () => {
    const peer = generateIdentity();
    let seq = 0;
    const change = async () => (await t.client.register(signed(peer, { seq: ++seq }), 30)).revision;
    const start = await change();
    const revisions = [start];
    for (let i = 0; i < 20; i++) revisions.push(await change());
    // One watcher from the first change, one from the middle of the history, one from the head,
    // and one "from now"; more changes come while they join and after.
    const watches = [
      collect(t, { fromRevision: start }),
      collect(t, { fromRevision: revisions[10] }),
      collect(t, { fromRevision: revisions.at(-1) }),
    ];
    for (let i = 0; i < 10; i++) revisions.push(await change());
    const fromNow = collect(t);
    // A "from now" watch starts wherever the directory is when the call arrives: once it has seen
    // one change, it must see every later one.
    for (let i = 0; i < 200 && fromNow.changes.length === 0; i++) {
      revisions.push(await change());
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const firstSeen = revisions.indexOf((await fromNow.until(1))[0].revision);
    for (let i = 0; i < 20; i++) revisions.push(await change());
    const expected = [revisions.slice(1), revisions.slice(11), revisions.slice(21)];
    for (const [index, watch] of watches.entries()) {
      const changes = await watch.until(expected[index].length);
      expect(changes.map((c) => c.revision)).toEqual(expected[index]);
    }
    const recent = await fromNow.until(revisions.length - firstSeen);
    expect(recent.map((c) => c.revision)).toEqual(revisions.slice(firstSeen));
    // Nothing more arrives: no repeats.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(watches.map((watch) => watch.changes.length)).toEqual(expected.map((e) => e.length));
    expect(fromNow.changes).toHaveLength(revisions.length - firstSeen);
    for (const watch of [...watches, fromNow]) await watch.stop();
  });

  test('list pages through every peer once, and filters by label selector', async () => {
    const ids = Array.from({ length: 7 }, () => generateIdentity());
    for (const [i, id] of ids.entries()) {
      await t.client.register(signed(id, { labels: { parity: i % 2 === 0 ? 'even' : 'odd' } }), 30);
    }
    const seen: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await t.client.listPage('default', { pageSize: 3, pageToken });
      expect(page.peers.length).toBeLessThanOrEqual(3);
      seen.push(...page.peers.map((peer) => peer.record.peerId));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids.map((id) => id.peerId).sort());

    const even = await t.client.listAll('default', { labelSelector: 'parity=even' });
    expect(even.peers).toHaveLength(4);
    const notOdd = await t.client.listAll('default', { labelSelector: 'parity!=odd,parity' });
    expect(notOdd.peers).toHaveLength(4);
  });

  describe('bad input: a clear status and no change', () => {
    let holder: Identity;
    beforeEach(async () => {
      holder = generateIdentity();
      await t.client.register(signed(holder, { name: 'taken', seq: 5 }), 30);
    });

    async function refused(call: () => Promise<unknown>): Promise<string> {
      const before = await snapshot(t);
      const code = await codeOf(call());
      expect(await snapshot(t)).toEqual(before);
      return code;
    }

    test('malformed record bytes: INVALID_ARGUMENT', async () => {
      expect(
        await refused(() => t.client.register({ record: Buffer.from([0x0a, 0xff]), signature: Buffer.alloc(64) })),
      ).toBe('INVALID_ARGUMENT');
    });

    test('a signature that does not verify, or a record for another id: PERMISSION_DENIED', async () => {
      const good = signed(generateIdentity());
      const flipped = Buffer.from(good.signature);
      flipped[0] ^= 1;
      expect(await refused(() => t.client.register({ record: good.record, signature: flipped }))).toBe(
        'PERMISSION_DENIED',
      );
      const mallory = generateIdentity();
      const forged = signUnchecked(mallory, { ...recordFields({ seq: 9 }), peerId: holder.peerId });
      expect(await refused(() => t.client.register(forged))).toBe('PERMISSION_DENIED');
    });

    test('an equal or older seq: FAILED_PRECONDITION, also for Deregister', async () => {
      // Another record with the held seq (the very record held is a repeat, and answers its lease).
      expect(
        await refused(() =>
          t.client.register(signed(holder, { name: 'taken', seq: 5, addresses: ['127.0.0.1:7999'] })),
        ),
      ).toBe('FAILED_PRECONDITION');
      expect(await refused(() => t.client.register(signed(holder, { seq: 4 })))).toBe('FAILED_PRECONDITION');
      expect(await refused(() => t.client.deregister(signed(holder, { seq: 5, withdrawn: true, addresses: [] })))).toBe(
        'FAILED_PRECONDITION',
      );
    });

    test('a deregistered record cannot be replayed', async () => {
      const peer = generateIdentity();
      const original = signed(peer, { seq: 3 });
      await t.client.register(original);
      await t.client.deregister(signed(peer, { seq: 4, withdrawn: true, addresses: [] }));
      expect(await refused(() => t.client.register(original))).toBe('FAILED_PRECONDITION');
    });

    test('a bad name or network: INVALID_ARGUMENT', async () => {
      const peer = generateIdentity();
      expect(
        await refused(() =>
          t.client.register(signUnchecked(peer, { ...recordFields({ name: 'No_Good' }), peerId: peer.peerId })),
        ),
      ).toBe('INVALID_ARGUMENT');
      expect(
        await refused(() =>
          t.client.register(signUnchecked(peer, { ...recordFields({ network: '-x' }), peerId: peer.peerId })),
        ),
      ).toBe('INVALID_ARGUMENT');
      expect(await codeOf(t.client.resolve('Bad Network', { name: 'taken' }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(t.client.resolve('default', { name: 'bad_name' }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(t.client.resolve('default', { peerId: 'not-an-id' }))).toBe('INVALID_ARGUMENT');
    });

    test('a name held by another live peer: ALREADY_EXISTS', async () => {
      expect(await refused(() => t.client.register(signed(generateIdentity(), { name: 'taken' })))).toBe(
        'ALREADY_EXISTS',
      );
    });

    test('a TTL outside the bounds: INVALID_ARGUMENT', async () => {
      expect(await refused(() => t.client.register(signed(generateIdentity()), 1))).toBe('INVALID_ARGUMENT');
      expect(await refused(() => t.client.register(signed(generateIdentity()), 100_000))).toBe('INVALID_ARGUMENT');
    });

    test('a withdrawn record to Register, or a live one to Deregister: INVALID_ARGUMENT', async () => {
      expect(await refused(() => t.client.register(signed(holder, { seq: 6, withdrawn: true, addresses: [] })))).toBe(
        'INVALID_ARGUMENT',
      );
      expect(await refused(() => t.client.deregister(signed(holder, { seq: 6 })))).toBe('INVALID_ARGUMENT');
    });

    test('an unknown lease: NOT_FOUND; an empty or absurd lease id: INVALID_ARGUMENT', async () => {
      expect(await refused(() => t.client.renew('default.nosuchlease'))).toBe('NOT_FOUND');
      expect(await refused(() => t.client.renew('nosuchnetwork.x'))).toBe('NOT_FOUND');
      expect(await refused(() => t.client.renew(''))).toBe('INVALID_ARGUMENT');
      expect(await refused(() => t.client.renew('x'.repeat(500)))).toBe('INVALID_ARGUMENT');
    });

    test('a bad page token or selector: INVALID_ARGUMENT; a page or selector past its bound: RESOURCE_EXHAUSTED', async () => {
      expect(await codeOf(t.client.listPage('default', { pageToken: 'garbage!' }))).toBe('INVALID_ARGUMENT');
      expect(
        await codeOf(t.client.listPage('default', { pageToken: Buffer.from('{"v":1}').toString('base64url') })),
      ).toBe('INVALID_ARGUMENT');
      expect(await codeOf(t.client.listPage('default', { labelSelector: 'a=b c' }))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(t.client.listPage('default', { pageSize: 5_000 }))).toBe('RESOURCE_EXHAUSTED');
      expect(await codeOf(t.client.listPage('default', { labelSelector: 'a'.repeat(2_000) }))).toBe(
        'RESOURCE_EXHAUSTED',
      );
    });

    test('a page token from another network: INVALID_ARGUMENT', async () => {
      for (let i = 0; i < 3; i++) await t.client.register(signed(generateIdentity()), 30);
      const page = await t.client.listPage('default', { pageSize: 1 });
      expect(page.nextPageToken).not.toBe('');
      expect(await codeOf(t.client.listPage('other', { pageToken: page.nextPageToken }))).toBe('INVALID_ARGUMENT');
    });

    test('a compacted watch revision: OUT_OF_RANGE', async () => {
      const first = await t.client.register(signed(generateIdentity()), 30);
      for (let i = 0; i < 150; i++) await t.client.register(signed(generateIdentity()), 30);
      const watch = collect(t, { fromRevision: first.revision - 1 });
      await expect(watch.until(1)).rejects.toMatchObject({ name: 'OutOfRangeError' });
      await watch.stop();
    });

    test('an over-size request: RESOURCE_EXHAUSTED', async () => {
      const huge = { record: Buffer.alloc(100_000, 1), signature: Buffer.alloc(64) };
      expect(await refused(() => t.client.register(huge))).toBe('RESOURCE_EXHAUSTED');
      const big = { record: Buffer.alloc(5_000, 1), signature: Buffer.alloc(64) };
      expect(await refused(() => t.client.register(big))).toBe('RESOURCE_EXHAUSTED');
    });
  });
});
