/**
 * The production store: Redis, one server or a Redis Cluster. Key layout in redis-keys.ts (one
 * slot per network, so a cluster spreads the networks over its nodes), the Lua scripts that keep
 * every multi-key change atomic in redis-scripts.ts, Watch in redis-watch.ts.
 *
 * The store is stateless apart from its watch feeds: run as many directory replicas as needed
 * against one Redis (or cluster). Every replica sweeps ended leases; the sweep script is idempotent.
 *
 * The client handed in should come from createDirectoryRedis (redis-connection.ts): without an
 * offline queue or retries, calls fail at once with UnavailableError while Redis is away instead
 * of waiting. The store refuses a client that would retry a command through many reconnects, and
 * fails calls at once whenever the client is between connections, even if it has an offline queue.
 */
import { InvalidArgumentError, UnavailableError } from '../../common/errors';
import { LoopTurns } from '../../common/loop-turns';
import { Logger } from '../../common/logging';
import { PeerRecord, SignedRecord } from '../../common/records';
import {
  checkStoreOptions,
  evictSeqError,
  floorSeqError,
  leaseNotFoundError,
  nameTakenError,
  newLeaseSecret,
  parseLeaseId,
  peerNotFoundError,
  peerNotLiveError,
  staleSeqError,
  staleTombstoneError,
} from './store-rules';
import { DecodedPeer, decodePeer } from './redis-codec';
import { RedisCommandObserver, observeRedisCommands } from './redis-command-observer';
import {
  connectionOptions,
  isDisconnected,
  redisAddress,
  storeErrorFrom,
  unavailable,
  type DirectoryRedis,
} from './redis-connection';
import { NETWORKS_KEY, networkKeys } from './redis-keys';
import { defineDirectoryScripts } from './redis-scripts';
import { createWatchHub } from './redis-watch';
import {
  DirectoryStore,
  ListPage,
  RegisterInput,
  RegisterResult,
  StoreOptions,
  StoredPeer,
  Subscription,
  WatchHandlers,
} from './store';

/** Leases one sweep script call ends at most, so no single call holds Redis for long. */
export const DEFAULT_SWEEP_BATCH_SIZE = 256;
/** How long a watch feed's XREAD blocks before it checks the store still has its data, in ms. */
export const DEFAULT_WATCH_POLL_MS = 1_000;
/** How long a watch feed's own connection may take to connect, in ms. */
export const DEFAULT_WATCH_CONNECT_TIMEOUT_MS = 2_000;
/**
 * Most reconnects a command in flight may wait through before it fails. ioredis's default (20)
 * holds a call for tens of seconds while Redis is down.
 */
export const MAX_RETRIES_PER_REQUEST = 1;
/** Networks whose expired leases one sweep ends at the same time. */
const NETWORKS_SWEPT_AT_ONCE = 16;
/** A List page of more peers than this waits for a turn of its own on the event loop to be decoded. */
const LARGE_PAGE = 100;

export interface RedisStoreComponents {
  /** Owned by the caller: the store defines its scripts on it and never closes it. */
  readonly redis: DirectoryRedis;
  readonly log?: Logger;
  /**
   * Told of every command the store sends (on this client and on its watch connections), with
   * its latency and whether it failed; the directory's Redis metrics.
   */
  readonly commands?: RedisCommandObserver;
}

export interface RedisStoreOptions extends StoreOptions {
  /** Leases one sweep script call ends at most; default DEFAULT_SWEEP_BATCH_SIZE. */
  readonly sweepBatchSize?: number;
  /**
   * How long a watch feed blocks per XREAD, in ms; default DEFAULT_WATCH_POLL_MS. It bounds how
   * late watchers learn that the store lost its data when nothing is written after the loss; too
   * low costs a GET per network per poll.
   */
  readonly watchPollMs?: number;
  /** Default DEFAULT_WATCH_CONNECT_TIMEOUT_MS. */
  readonly watchConnectTimeoutMs?: number;
}

export function createRedisStore(components: RedisStoreComponents, options: RedisStoreOptions): DirectoryStore {
  checkStoreOptions(options);
  const { redis, log, commands } = components;
  const nodeOptions = connectionOptions(redis);
  // A cluster client takes keyPrefix on itself and in its nodes' options (for one server, the
  // same options twice).
  if (redis.options.keyPrefix || nodeOptions.keyPrefix) {
    throw new RangeError(
      'the directory store builds keys inside Lua scripts: give it a Redis client without keyPrefix',
    );
  }
  const retries = nodeOptions.maxRetriesPerRequest;
  if (typeof retries !== 'number' || retries < 0 || retries > MAX_RETRIES_PER_REQUEST) {
    // Otherwise a call in flight when Redis goes away waits through many reconnects (forever
    // with null) before it fails, instead of answering UNAVAILABLE at once.
    throw new RangeError(
      `the directory store needs a Redis client with maxRetriesPerRequest 0..${MAX_RETRIES_PER_REQUEST} (got ${retries}): build it with createDirectoryRedis()`,
    );
  }
  const sweepBatchSize = options.sweepBatchSize ?? DEFAULT_SWEEP_BATCH_SIZE;
  if (!Number.isSafeInteger(sweepBatchSize) || sweepBatchSize < 1) {
    throw new RangeError(`sweepBatchSize must be a whole number from 1, got ${sweepBatchSize}`);
  }
  const scripts = defineDirectoryScripts(redis);
  const unobserve = commands ? observeRedisCommands(redis, commands) : () => {};
  const hub = createWatchHub(
    { redis, scripts, log, commands },
    {
      pollMs: options.watchPollMs ?? DEFAULT_WATCH_POLL_MS,
      connectTimeoutMs: options.watchConnectTimeoutMs ?? DEFAULT_WATCH_CONNECT_TIMEOUT_MS,
    },
  );
  let closed = false;
  /**
   * Large List pages are decoded one per event-loop iteration: after a flush every watcher lists
   * again at once, and their pages, answered together, held the loop for seconds with every
   * lookup waiting behind them.
   */
  const pageTurns = new LoopTurns();

  // Tell of a lost Redis once per outage, not once per reconnect attempt.
  let reportedOutage = false;
  const onError = (error: Error): void => {
    if (reportedOutage) return;
    reportedOutage = true;
    log?.warn(
      { err: error, redis: redisAddress(redis) },
      'lost the connection to Redis; calls fail with UNAVAILABLE until it is back',
    );
  };
  const onReady = (): void => {
    if (reportedOutage) log?.info({ redis: redisAddress(redis) }, 'connected to Redis again');
    reportedOutage = false;
  };
  redis.on('error', onError);
  redis.on('ready', onReady);

  const now = (): number => Math.floor(options.now());

  /** Runs one Redis call; every failure comes out as a store error. */
  async function run<T>(call: () => Promise<T>): Promise<T> {
    if (closed) throw new UnavailableError('the directory store is closed');
    if (isDisconnected(redis)) throw unavailable(redis, new Error(`the connection is ${redis.status}`));
    try {
      return await call();
    } catch (error) {
      throw storeErrorFrom(redis, error);
    }
  }

  function toStored(network: string, peerId: string, peer: DecodedPeer): StoredPeer {
    return {
      peerId,
      // Read through, so the record is decoded only if the caller reads it.
      get record() {
        return peer.record;
      },
      signed: { record: peer.recordBytes, signature: peer.signature },
      revision: peer.revision,
      leaseId: `${network}.${peer.leaseSecret}`,
      expiresAtMs: peer.deadlineMs,
    };
  }

  /**
   * Every network this store has found in the sweeper's list or registered a peer in. On a Redis
   * Cluster the list is one key on one node and the networks live on others: should that node
   * lose its data, the networks it listed would never be swept again (their peers renew, nobody
   * registers), so each sweep puts back the ones it knows, and sweeps them even while the list
   * cannot be read.
   */
  const knownNetworks = new Set<string>();

  async function sweepNetwork(network: string, nowMs: number): Promise<number> {
    const keys = networkKeys(network);
    let ended = 0;
    for (;;) {
      const [endedNow, looked] = (await scripts.call(
        'gvSweep',
        keys.rev,
        keys.base,
        keys.log,
        keys.ids,
        keys.deadlines,
        keys.prefix,
        nowMs,
        sweepBatchSize,
        options.logRetention,
        options.seqFloorRetentionMs,
      )) as [number, number];
      ended += endedNow;
      if (looked < sweepBatchSize) return ended;
    }
  }

  const store: DirectoryStore = {
    async register({ record, signed, ttlMs }: RegisterInput): Promise<RegisterResult> {
      if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
        throw new InvalidArgumentError(`lease TTL must be a whole number of ms from 1, got ${ttlMs}`);
      }
      const { network, peerId, name, seq } = record;
      const keys = networkKeys(network);
      const secret = newLeaseSecret();
      const reply = await run(async () => {
        // The network joins the sweeper's list first and in the same round trip (one auto-pipeline:
        // concurrent registrations share one socket write): should the script then fail, an extra
        // network in the list costs one empty sweep. For a network this store has served, the
        // list is not waited on: the sweeps put back any network the list loses, so on a cluster a
        // registration needs only its own network's node, not also the list's.
        const listed = redis.sadd(NETWORKS_KEY, network);
        const known = knownNetworks.has(network);
        if (known) listed.catch(() => undefined);
        const [, written] = await Promise.all([
          known ? undefined : listed,
          scripts.call(
            'gvRegister',
            keys.rev,
            keys.base,
            keys.log,
            keys.ids,
            keys.deadlines,
            keys.peer(peerId),
            keys.floor(peerId),
            keys.name(name),
            keys.lease(secret),
            keys.prefix,
            peerId,
            seq,
            name,
            Buffer.from(signed.record),
            Buffer.from(signed.signature),
            ttlMs,
            now(),
            secret,
            options.logRetention,
            options.seqFloorRetentionMs,
          ),
        ]);
        return written as [string, number | string, string?];
      });
      knownNetworks.add(network);
      switch (reply[0]) {
        case 'ok':
          return { leaseId: `${network}.${secret}`, revision: Number(reply[1]) };
        case 'same':
          return { leaseId: `${network}.${String(reply[2])}`, revision: Number(reply[1]) };
        case 'stale':
          throw staleSeqError(peerId, seq, Number(reply[1]));
        case 'floor':
          throw floorSeqError(peerId, seq, Number(reply[1]));
        case 'taken':
          throw nameTakenError(network, name, String(reply[1]));
        default:
          throw new Error(`unexpected reply from the register script: ${JSON.stringify(reply)}`);
      }
    },

    async renew(leaseId: string): Promise<{ ttlMs: number }> {
      const lease = parseLeaseId(leaseId);
      if (!lease) throw leaseNotFoundError(leaseId);
      const keys = networkKeys(lease.network);
      const ttlMs = await run(() =>
        scripts.call('gvRenew', keys.lease(lease.secret), keys.deadlines, keys.prefix, lease.secret, now()),
      );
      if (ttlMs === null) throw leaseNotFoundError(leaseId);
      return { ttlMs: Number(ttlMs) };
    },

    async deregister(record: PeerRecord, _signed: SignedRecord): Promise<{ revision: number }> {
      const keys = networkKeys(record.network);
      const reply = (await run(() =>
        scripts.call(
          'gvDeregister',
          keys.rev,
          keys.base,
          keys.log,
          keys.ids,
          keys.deadlines,
          keys.peer(record.peerId),
          keys.prefix,
          record.peerId,
          record.seq,
          now(),
          options.logRetention,
          options.seqFloorRetentionMs,
        ),
      )) as [string, number?];
      switch (reply[0]) {
        case 'ok':
          return { revision: Number(reply[1]) };
        case 'missing':
          throw peerNotFoundError(record.network, record.peerId);
        case 'stale':
          throw staleTombstoneError(record.peerId, record.seq, Number(reply[1]));
        default:
          throw new Error(`unexpected reply from the deregister script: ${JSON.stringify(reply)}`);
      }
    },

    async updateRecord(record: PeerRecord, signed: SignedRecord): Promise<{ revision: number }> {
      const { network, peerId, name, seq } = record;
      const keys = networkKeys(network);
      const reply = (await run(() =>
        scripts.call(
          'gvUpdate',
          keys.rev,
          keys.base,
          keys.log,
          keys.ids,
          keys.deadlines,
          keys.peer(peerId),
          keys.name(name),
          keys.prefix,
          peerId,
          seq,
          name,
          Buffer.from(signed.record),
          Buffer.from(signed.signature),
          now(),
          options.logRetention,
          options.seqFloorRetentionMs,
        ),
      )) as [string, (number | string)?];
      switch (reply[0]) {
        case 'ok':
          return { revision: Number(reply[1]) };
        case 'missing':
          throw peerNotLiveError(network, peerId);
        case 'stale':
          throw staleSeqError(peerId, seq, Number(reply[1]));
        case 'taken':
          throw nameTakenError(network, name, String(reply[1]));
        default:
          throw new Error(`unexpected reply from the update script: ${JSON.stringify(reply)}`);
      }
    },

    async evict(network: string, peerId: string, seq: number): Promise<{ revision: number }> {
      const keys = networkKeys(network);
      const reply = (await run(() =>
        scripts.call(
          'gvEvict',
          keys.rev,
          keys.base,
          keys.log,
          keys.ids,
          keys.deadlines,
          keys.peer(peerId),
          keys.prefix,
          peerId,
          seq,
          now(),
          options.logRetention,
          options.seqFloorRetentionMs,
        ),
      )) as [string, number?];
      switch (reply[0]) {
        case 'ok':
          return { revision: Number(reply[1]) };
        case 'missing':
          throw peerNotLiveError(network, peerId);
        case 'seq':
          throw evictSeqError(peerId, seq, Number(reply[1]));
        default:
          throw new Error(`unexpected reply from the evict script: ${JSON.stringify(reply)}`);
      }
    },

    async resolveById(network: string, peerId: string): Promise<StoredPeer | undefined> {
      const value = await run(() => redis.getBuffer(networkKeys(network).peer(peerId)));
      return value === null ? undefined : toStored(network, peerId, decodePeer(value));
    },

    async resolveByName(network: string, name: string): Promise<StoredPeer | undefined> {
      const keys = networkKeys(network);
      const reply = (await run(() => scripts.callBuffer('gvResolveName', keys.name(name), keys.prefix))) as
        [Buffer, Buffer] | null;
      return reply === null ? undefined : toStored(network, reply[0].toString(), decodePeer(reply[1]));
    },

    async list(network: string, { after, scanLimit }: { after?: string; scanLimit: number }): Promise<ListPage> {
      if (!Number.isSafeInteger(scanLimit) || scanLimit < 1) {
        throw new InvalidArgumentError(`scan limit must be a whole number from 1, got ${scanLimit}`);
      }
      const keys = networkKeys(network);
      const [revision, page, more] = (await run(() =>
        scripts.callBuffer('gvList', keys.rev, keys.ids, keys.prefix, after ?? '', scanLimit),
      )) as [number, (Buffer | null)[], number];
      if (page.length > 2 * LARGE_PAGE) await pageTurns.take();
      const peers: StoredPeer[] = [];
      let lastId: string | undefined;
      for (let i = 0; i + 1 < page.length; i += 2) {
        lastId = (page[i] as Buffer).toString();
        const value = page[i + 1];
        // Written in the same script as the id index, so always there; skip rather than fail.
        if (value !== null) peers.push(toStored(network, lastId, decodePeer(value)));
      }
      return { peers, nextAfter: more === 1 ? lastId : undefined, revision: Number(revision) };
    },

    async revision(network: string): Promise<number> {
      const value = await run(() => redis.get(networkKeys(network).rev));
      return value === null ? 0 : Number(value);
    },

    watch(network: string, fromRevision: number | undefined, handlers: WatchHandlers): Promise<Subscription> {
      return hub.watch(network, fromRevision, handlers);
    },

    async sweepExpired(): Promise<number> {
      const nowMs = now();
      return run(async () => {
        let failure: unknown;
        try {
          const listed = new Set(await redis.smembers(NETWORKS_KEY));
          const lost = [...knownNetworks].filter((network) => !listed.has(network));
          for (const network of listed) knownNetworks.add(network);
          if (lost.length > 0) {
            await redis.sadd(NETWORKS_KEY, ...lost);
            log?.warn({ networks: lost.length }, "the sweeper's list of networks had lost some: put them back");
          }
        } catch (error) {
          failure = error;
        }
        // Several networks at a time, each on its own: a network whose node is down (its calls fail
        // only after the cluster client's retries) must not hold up the sweeps of the others.
        let ended = 0;
        const networks = [...knownNetworks];
        for (let i = 0; i < networks.length; i += NETWORKS_SWEPT_AT_ONCE) {
          const sweeps = networks.slice(i, i + NETWORKS_SWEPT_AT_ONCE).map((n) => sweepNetwork(n, nowMs));
          for (const outcome of await Promise.allSettled(sweeps)) {
            if (outcome.status === 'fulfilled') ended += outcome.value;
            else failure ??= outcome.reason;
          }
        }
        if (failure !== undefined) throw failure;
        return ended;
      });
    },

    async countPeers(): Promise<Map<string, number>> {
      return run(async () => {
        const networks = (await redis.smembers(NETWORKS_KEY)).sort();
        // One command a network (each network's keys may live on another cluster node), sent together.
        const counts = await Promise.all(networks.map((network) => redis.zcard(networkKeys(network).ids)));
        return new Map(networks.map((network, index) => [network, counts[index]]));
      });
    },

    async ping(): Promise<void> {
      await run(() => redis.ping());
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await hub.close();
      unobserve();
      redis.off('error', onError);
      redis.off('ready', onReady);
    },
  };
  return store;
}
