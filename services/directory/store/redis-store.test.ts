import { Redis } from 'ioredis';
import { RedisServer, startRedisServer } from '../../../test/support/redis-server';
import { createDirectoryRedis, waitForRedis } from './redis-connection';
import { createRedisStore } from './redis-store';
import { PeerRecord, SignedRecord } from '../../common/records';
import { DirectoryStore } from './store';
import { CONTRACT_START_MS, EventRecorder, ManualClock, TestPeer, describeStoreContract } from './store-contract';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  await server?.stop();
});

async function connect(): Promise<Redis> {
  const redis = createDirectoryRedis(server.url);
  await waitForRedis(redis, 5_000);
  return redis;
}

describeStoreContract('redis', async (options) => {
  const redis = await connect();
  await redis.flushall();
  // A small batch makes the contract's sweeps cross batch boundaries.
  const store = createRedisStore({ redis }, { ...options, sweepBatchSize: 7, watchPollMs: 200 });
  return {
    store,
    async close() {
      await store.close();
      await redis.quit();
    },
  };
});

describe('redis store', () => {
  let redis: Redis;
  let clock: ManualClock;
  let store: DirectoryStore;
  const recorders: EventRecorder[] = [];
  const net = 'redis';

  beforeEach(async () => {
    redis = await connect();
    await redis.flushall();
    clock = new ManualClock();
    store = createRedisStore(
      { redis },
      { logRetention: 1_000, seqFloorRetentionMs: 60_000, now: clock.now, watchPollMs: 200 },
    );
  });

  afterEach(async () => {
    for (const recorder of recorders.splice(0)) recorder.close();
    await store.close();
    await redis.quit();
  });

  async function watch(from: number | undefined, network = net): Promise<EventRecorder> {
    const recorder = await EventRecorder.start(store, network, from);
    recorders.push(recorder);
    return recorder;
  }

  async function networkKeyNames(network = net): Promise<string[]> {
    return (await redis.keys(`gv:{${network}}:*`)).sort();
  }

  it('lays out a peer in the documented keys, all under the network hash tag', async () => {
    const peer = new TestPeer(net, 'alpha');
    const { leaseId } = await store.register(peer.registration());
    const secret = leaseId.slice(`${net}.`.length);
    expect(await networkKeyNames()).toEqual(
      [
        `gv:{${net}}:base`,
        `gv:{${net}}:deadlines`,
        `gv:{${net}}:ids`,
        `gv:{${net}}:lease:${secret}`,
        `gv:{${net}}:log`,
        `gv:{${net}}:name:alpha`,
        `gv:{${net}}:peer:${peer.peerId}`,
        `gv:{${net}}:rev`,
      ].sort(),
    );
    expect(await redis.smembers('gv:networks')).toEqual([net]);
    expect(await redis.get(`gv:{${net}}:name:alpha`)).toBe(peer.peerId);
    expect(await redis.get(`gv:{${net}}:lease:${secret}`)).toBe(peer.peerId);
    expect(await redis.zscore(`gv:{${net}}:deadlines`, peer.peerId)).toBe(String(clock.ms + 30_000));
    expect(Number(await redis.get(`gv:{${net}}:base`))).toBe(Number(await redis.get(`gv:{${net}}:rev`)) - 1);

    await store.deregister(...tombstone(peer));
    const floorKey = `gv:{${net}}:floor:${peer.peerId}`;
    expect((await networkKeyNames()).sort()).toEqual(
      [`gv:{${net}}:base`, `gv:{${net}}:log`, `gv:{${net}}:rev`, floorKey].sort(),
    );
    expect(await redis.pttl(floorKey)).toBeGreaterThan(50_000);
  });

  it('runs its scripts with EVALSHA', async () => {
    const peer = new TestPeer(net);
    await store.register(peer.registration());
    await store.register(peer.registration());
    const stats = await redis.info('commandstats');
    expect(stats).toMatch(/cmdstat_evalsha:calls=[1-9]/);
  });

  it('registers in a network it has served while the list of networks cannot be written; sweeps put it back', async () => {
    await store.register(new TestPeer(net).registration());
    expect(await redis.smembers('gv:networks')).toEqual([net]);
    // The list cannot be written (on a cluster: its node is down): a network this store has
    // served still registers, a network new to it does not (it must be listed first).
    await redis.set('gv:networks', 'not a set');
    const peer = new TestPeer(net);
    await store.register(peer.registration());
    expect((await store.resolveById(net, peer.peerId))?.record.peerId).toBe(peer.peerId);
    await expect(store.register(new TestPeer('unserved').registration())).rejects.toThrow();
    // The list is back, empty: the next sweep lists the network again.
    await redis.del('gv:networks');
    await store.sweepExpired();
    expect(await redis.smembers('gv:networks')).toEqual([net]);
  });

  it('starts revisions from the clock, so they never go back after a flush', async () => {
    const peer = new TestPeer(net);
    const before = (await store.register(peer.registration())).revision;
    expect(before).toBe(CONTRACT_START_MS * 1_000 + 1);
    await store.register(peer.registration());
    await redis.flushall();
    expect(await store.revision(net)).toBe(0);
    clock.advance(1);
    const after = (await store.register(peer.registration())).revision;
    expect(after).toBeGreaterThan(before + 1);
  });

  it('tells a live watcher the store lost its data when it is flushed, even with no write after', async () => {
    const peer = new TestPeer(net);
    await store.register(peer.registration());
    const recorder = await watch(undefined);
    await store.register(peer.registration());
    await recorder.waitForEvents(1);
    await redis.flushall();
    expect((await recorder.waitForError()).name).toBe('OutOfRangeError');
  });

  it('tells a live watcher the store lost its data when a write follows a flush', async () => {
    const peer = new TestPeer(net);
    const { revision } = await store.register(peer.registration());
    const recorder = await watch(revision);
    await redis.flushall();
    clock.advance(1);
    const after = await store.register(peer.registration());
    expect(after.revision).toBeGreaterThan(revision);
    expect((await recorder.waitForError()).name).toBe('OutOfRangeError');
    expect(recorder.events).toEqual([]);
  });

  it('after a flush, refuses revisions from before it and serves revision 0 from the new start', async () => {
    const a = new TestPeer(net);
    const { revision } = await store.register(a.registration());
    await redis.flushall();
    clock.advance(1);
    const b = new TestPeer(net);
    await store.register(b.registration());
    const stale = await watch(revision);
    expect((await stale.waitForError()).name).toBe('OutOfRangeError');
    const fresh = await watch(0);
    expect(fresh.events.map((event) => event.peerId)).toEqual([b.peerId]);
    expect(fresh.error).toBeUndefined();
  });

  it('delivers once the events written while a new watcher reads its backlog', async () => {
    const peer = new TestPeer(net);
    const { revision } = await store.register(peer.registration());
    // A live watcher on the same feed shows when the feed has read (and buffered) an event.
    const witness = await watch(revision);
    const original = redis.xrangeBuffer;
    let reads = 0;
    const interleaved = async function (this: Redis, ...args: unknown[]): Promise<unknown> {
      reads += 1;
      const first = reads === 1;
      if (first) {
        // Written before the backlog read: reaches the watcher twice (backlog and buffer).
        await store.register(peer.registration());
        await witness.waitForEvents(1);
      }
      const entries = await (original as (...a: unknown[]) => Promise<unknown>).apply(redis, args);
      if (first) {
        // Written after it: reaches the watcher only through its buffer.
        await store.register(peer.registration());
        await witness.waitForEvents(2);
      }
      return entries;
    };
    (redis as unknown as { xrangeBuffer: typeof interleaved }).xrangeBuffer = interleaved;
    try {
      const recorder = await watch(revision);
      expect(recorder.events.map((event) => event.revision)).toEqual([revision + 1, revision + 2]);
      await store.register(peer.registration());
      await recorder.waitForEvents(3);
      expect(recorder.events.map((event) => event.revision)).toEqual([revision + 1, revision + 2, revision + 3]);
    } finally {
      delete (redis as unknown as { xrangeBuffer?: unknown }).xrangeBuffer;
    }
  });

  it('decodes a stored record only when it is read: Resolve and List answer with its signed bytes', async () => {
    const peer = new TestPeer(net);
    const registration = peer.registration();
    const registered = await store.register(registration);
    const decode = jest.spyOn(PeerRecord, 'decode');
    try {
      const byId = await store.resolveById(net, peer.peerId);
      const page = await store.list(net, { scanLimit: 10 });
      expect(decode).not.toHaveBeenCalled();
      expect(byId?.peerId).toBe(peer.peerId);
      expect(page.peers.map((p) => p.peerId)).toEqual([peer.peerId]);
      expect(Buffer.from(byId!.signed.record)).toEqual(Buffer.from(registration.signed.record));
      expect(byId?.revision).toBe(registered.revision);
      expect(decode).not.toHaveBeenCalled();
      expect(byId?.record.peerId).toBe(peer.peerId);
      expect(byId?.record.peerId).toBe(peer.peerId);
      expect(decode).toHaveBeenCalledTimes(1);
    } finally {
      decode.mockRestore();
    }
  });

  it('decodes a log entry once for every watcher catching up through it and the live feed', async () => {
    const peer = new TestPeer(net);
    const { revision } = await store.register(peer.registration());
    const live = await watch(revision);
    for (let i = 0; i < 3; i++) await store.register(peer.registration());
    await live.waitForEvents(3);
    // Two watchers from older revisions read their backlog from the log on their own.
    const [first, second] = await Promise.all([watch(revision), watch(revision + 1)]);
    await first.waitForEvents(3);
    await second.waitForEvents(2);
    expect(first.events.map((event) => event.revision)).toEqual([revision + 1, revision + 2, revision + 3]);
    // The same objects, so each event is also encoded once for all of them (watch-encoding.ts).
    expect(first.events[1]).toBe(live.events[1]);
    expect(second.events[0]).toBe(first.events[1]);
    expect(second.events[1]).toBe(live.events[2]);
  });

  it('shares one XREAD connection per network among all its watchers', async () => {
    const watchers = await Promise.all([
      ...Array.from({ length: 20 }, () => watch(undefined)),
      watch(undefined, 'second'),
      watch(undefined, 'second'),
    ]);
    const clients = await redis.client('LIST');
    expect(String(clients).match(/name=grapevine-watch/g)).toHaveLength(2);
    const peer = new TestPeer(net);
    await store.register(peer.registration());
    for (const recorder of watchers.slice(0, 20)) await recorder.waitForEvents(1);
  });

  it('tells its observer of every command it sends, by script or command name, until it is closed', async () => {
    const seen: string[] = [];
    const failures: string[] = [];
    const observed = createRedisStore(
      {
        redis,
        commands: {
          observe: (command, seconds, failed) => {
            expect(seconds).toBeGreaterThanOrEqual(0);
            seen.push(command);
            if (failed) failures.push(command);
          },
        },
      },
      { logRetention: 1_000, seqFloorRetentionMs: 60_000, now: clock.now, watchPollMs: 200 },
    );
    const peer = new TestPeer(net, 'alpha');
    const { leaseId } = await observed.register(peer.registration());
    await observed.renew(leaseId);
    await observed.resolveById(net, peer.peerId);
    await observed.resolveByName(net, 'alpha');
    const recorder = await EventRecorder.start(observed, net, 0);
    await observed.register(new TestPeer(net).registration());
    // The second event comes live, through the watch connection's XREAD.
    await recorder.waitForEvents(2);
    await redis.set(`gv:{broken}:ids`, 'not a sorted set');
    const broken = new TestPeer('broken');
    await expect(observed.register(broken.registration())).rejects.toThrow(/GVCORRUPT/);
    recorder.close();
    await observed.close();
    expect(new Set(seen)).toEqual(
      new Set(['sadd', 'register', 'renew', 'get', 'resolve_name', 'watch_range', 'xrange', 'xread', 'other']),
    );
    expect(failures).toEqual(['register']);
    // A blocking read sent before close may still complete (and be told) within one poll; after
    // that, nothing more is sent.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const count = seen.length;
    await redis.ping();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(seen).toHaveLength(count);
  });

  describe('a failing multi-key write leaves nothing behind', () => {
    it('when a key of the network has the wrong type', async () => {
      await redis.set(`gv:{${net}}:deadlines`, 'not a sorted set');
      const peer = new TestPeer(net, 'alpha');
      await expect(store.register(peer.registration())).rejects.toThrow(/GVCORRUPT/);
      const update = peer.record();
      await expect(store.updateRecord(update.record, update.signed)).rejects.toThrow(/GVCORRUPT/);
      await expect(store.evict(net, peer.peerId, 1)).rejects.toThrow(/GVCORRUPT/);
      expect(await networkKeyNames()).toEqual([`gv:{${net}}:deadlines`]);
    });

    it('when the change log refuses the entry', async () => {
      const first = new TestPeer(net, 'alpha');
      const { revision } = await store.register(first.registration(1_000));
      const keysBefore = await networkKeyNames();
      // A counter behind the log makes the next entry id collide with one already there.
      await redis.set(`gv:{${net}}:rev`, String(revision - 1));
      const second = new TestPeer(net, 'beta');
      await expect(store.register(second.registration())).rejects.toThrow(/XADD|equal or smaller/);
      await expect(store.deregister(...tombstone(first))).rejects.toThrow(/XADD|equal or smaller/);
      const update = first.record({ name: 'gamma' });
      await expect(store.updateRecord(update.record, update.signed)).rejects.toThrow(/XADD|equal or smaller/);
      await expect(store.evict(net, first.peerId, 1)).rejects.toThrow(/XADD|equal or smaller/);
      clock.advance(1_000);
      await expect(store.sweepExpired()).rejects.toThrow(/XADD|equal or smaller/);
      expect(await networkKeyNames()).toEqual(keysBefore);
      expect(await redis.xlen(`gv:{${net}}:log`)).toBe(1);
      expect(await redis.get(`gv:{${net}}:rev`)).toBe(String(revision - 1));
      expect((await store.resolveById(net, first.peerId))?.record.peerId).toBe(first.peerId);
    });
  });
});

describe('redis store when Redis goes away', () => {
  let lonely: RedisServer;

  beforeAll(async () => {
    lonely = await startRedisServer();
  });

  afterAll(async () => {
    await lonely?.stop();
  });

  it('refuses a client that would hold calls through many reconnects', async () => {
    const redis = withErrorListener(new Redis(lonely.url, { lazyConnect: true }));
    expect(() => createRedisStore({ redis }, { logRetention: 100, seqFloorRetentionMs: 1_000, now: Date.now })).toThrow(
      /maxRetriesPerRequest/,
    );
    redis.disconnect();
  });

  async function expectQuickUnavailable(call: () => Promise<unknown>): Promise<void> {
    const started = Date.now();
    let caught: unknown;
    try {
      await call();
    } catch (error) {
      caught = error;
    }
    expect((caught as Error)?.name).toBe('UnavailableError');
    expect((caught as Error).message).toContain(`127.0.0.1:${lonely.port}`);
    expect(Date.now() - started).toBeLessThan(1_000);
  }

  it.each([
    ['the directory client options', () => createDirectoryRedis(lonely.url)],
    ['a client with an offline queue', () => withErrorListener(new Redis(lonely.url, { maxRetriesPerRequest: 0 }))],
  ])('fails calls fast with Unavailable and recovers when Redis is back (%s)', async (_, makeClient) => {
    const redis = makeClient();
    await waitForRedis(redis, 5_000);
    const clock = new ManualClock();
    const store = createRedisStore({ redis }, { logRetention: 100, seqFloorRetentionMs: 60_000, now: clock.now });
    try {
      const peer = new TestPeer('gone');
      const { leaseId } = await store.register(peer.registration());
      const recorder = await EventRecorder.start(store, 'gone', undefined);

      await lonely.kill();
      expect((await recorder.waitForError()).name).toBe('UnavailableError');
      await expectQuickUnavailable(() => store.register(peer.registration()));
      await expectQuickUnavailable(() => store.renew(leaseId));
      await expectQuickUnavailable(() => store.resolveById('gone', peer.peerId));
      await expectQuickUnavailable(() => store.list('gone', { scanLimit: 10 }));
      await expectQuickUnavailable(() => store.sweepExpired());
      await expectQuickUnavailable(() => store.ping());
      const late = await EventRecorder.start(store, 'gone', undefined);
      expect((await late.waitForError()).name).toBe('UnavailableError');

      await lonely.restart();
      await waitForRedis(redis, 5_000);
      await store.ping();
      // The restarted Redis is empty: the lease is lost, and registering again works.
      await expect(store.renew(leaseId)).rejects.toMatchObject({ name: 'NotFoundError' });
      const again = await EventRecorder.start(store, 'gone', 0);
      await store.register(peer.registration());
      await again.waitForEvents(1);
      again.close();
    } finally {
      await store.close();
      redis.disconnect();
    }
  });
});

function withErrorListener(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}

function tombstone(peer: TestPeer): [PeerRecord, SignedRecord] {
  const { record, signed } = peer.tombstone();
  return [record, signed];
}
