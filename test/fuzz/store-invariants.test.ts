/**
 * The store check the fuzz suites rely on (test/support/store-invariants.ts) must see a broken
 * store: a directory's Redis, whole after real registrations, is broken one way at a time and
 * each break must be named.
 */
import { Redis } from 'ioredis';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { generateIdentity, signed } from '../support/records';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import {
  checkStoreInvariants,
  fingerprint,
  openInvariantClient,
  readStore,
  type InvariantClient,
} from '../support/store-invariants';

describe('the store invariant check', () => {
  let redis: RedisServer;
  let dir: TestDirectory;
  let admin: InvariantClient;
  let r: Redis;
  const named = generateIdentity();
  const plain = generateIdentity();
  const key = (suffix: string) => `gv:{checked}:${suffix}`;
  const FAR = 9_000_000_000_000;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({ redisUrl: redis.url });
    admin = openInvariantClient(redis.url);
    r = admin.redis;
  });

  afterAll(async () => {
    admin.close();
    await dir.stop();
    await redis.stop();
  });

  /** A fresh store holding two live peers (one named) and one withdrawn peer's floor. */
  async function whole(): Promise<{ lease: string }> {
    await r.flushall();
    const { leaseId } = await dir.client.register(signed(named, { network: 'checked', name: 'web', seq: 1 }), 60);
    await dir.client.register(signed(plain, { network: 'checked', seq: 1 }), 60);
    const gone = generateIdentity();
    await dir.client.register(signed(gone, { network: 'checked', seq: 1 }), 60);
    await dir.client.deregister(signed(gone, { network: 'checked', seq: 2, withdrawn: true }));
    expect(await checkStoreInvariants(admin)).toEqual([]);
    return { lease: leaseId.split('.')[1] };
  }

  const breaks: [string, (lease: string) => Promise<unknown>, RegExp][] = [
    ['a lease key deleted', (lease) => r.del(key(`lease:${lease}`)), /has no lease key/],
    ['a lease pointing at nobody', () => r.set(key('lease:aaaaaaaaaaaaaaaaaaaaaaaa'), 'bnobody'), /orphaned lease/],
    ['a name claim of a peer not there', () => r.set(key('name:ghost'), generateIdentity().peerId), /orphaned name/],
    ['a name claim deleted', () => r.del(key('name:web')), /has no name claim/],
    // Deadlines far ahead: the directory's sweeper heals the due entries it finds on its own.
    [
      'a deadline of a peer not there',
      () => r.zadd(key('deadlines'), FAR, generateIdentity().peerId),
      /orphaned deadline/,
    ],
    ['a deadline moved', () => r.zadd(key('deadlines'), FAR, named.peerId), /has deadline/],
    ['an id dropped from the index', () => r.zrem(key('ids'), plain.peerId), /is not in .*ids/],
    [
      'a seq floor beside a live peer',
      () => r.set(key(`floor:${plain.peerId}`), '5:99999999999999', 'PX', 60_000),
      /seq floor/,
    ],
    ['a floor that never expires', async () => r.persist((await r.keys(key('floor:*')))[0]), /never expires/],
    ['a revision behind the log', () => r.set(key('rev'), '1'), /ends at/],
    [
      'a peer value with a changed record',
      async () => {
        const value = (await r.getBuffer(key(`peer:${plain.peerId}`)))!;
        value[value.length - 70] ^= 0x01;
        return r.set(key(`peer:${plain.peerId}`), value);
      },
      /does not open|does not decode|another record/,
    ],
    ['a key of no known kind', () => r.set(key('junk'), 'x'), /unexpected key/],
    ['a network missing from the sweeper set', () => r.srem('gv:networks', 'checked'), /not in gv:networks/],
  ];

  it.each(breaks)('names %s', async (_what, breakIt, expected) => {
    const { lease } = await whole();
    await breakIt(lease);
    const problems = await checkStoreInvariants(admin);
    expect(problems.join('\n')).toMatch(expected);
  });

  it('fingerprints tell a change, and leave deadlines out when asked', async () => {
    await whole();
    const before = await readStore(admin);
    const { leaseId } = await dir.client.register(signed(generateIdentity(), { network: 'other' }), 60);
    const moved = await readStore(admin);
    expect(fingerprint(moved)).not.toBe(fingerprint(before));
    await dir.client.renew(leaseId);
    const renewed = await readStore(admin);
    expect(fingerprint(renewed, { ignoreDeadlines: true })).toBe(fingerprint(moved, { ignoreDeadlines: true }));
  });
});
