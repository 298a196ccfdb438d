/**
 * How the directory talks to Redis (one server, or a Redis Cluster): client options that make a
 * lost Redis fail calls at once instead of queueing them, and the one mapping from client errors
 * to store errors.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, RedisOptions } from 'ioredis';
import { ConfigError } from '../../common/config';
import { GrapevineError, UnavailableError } from '../../common/errors';

/** A command with no reply after this long fails (a Redis that hangs, a silent network), in ms. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;
/** Connecting (TCP and handshake) gives up after this long, in ms. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 2_000;
/** Reconnect backoff: doubles from the first delay up to the cap, plus up to 100 ms of jitter. */
export const REDIS_RECONNECT_FIRST_DELAY_MS = 50;
export const REDIS_RECONNECT_MAX_DELAY_MS = 1_000;

/**
 * Options for the client handed to createRedisStore. While Redis is away every call fails at once
 * with UnavailableError (no offline queue, no retries of a command in flight), and the client
 * keeps reconnecting in the background, so calls work again as soon as Redis is back.
 */
export function directoryRedisOptions(overrides: Partial<RedisOptions> = {}): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt: number) =>
      Math.min(REDIS_RECONNECT_FIRST_DELAY_MS * 2 ** (attempt - 1), REDIS_RECONNECT_MAX_DELAY_MS) +
      Math.floor(Math.random() * 100),
    ...overrides,
  };
}

/**
 * TLS options that trust the CA bundle in `file`, read again at every connection (ioredis copies
 * `tls` into each connect), so a rotated CA is trusted from the next reconnect on without a
 * restart. The first read fails with ConfigError; a later one that fails (the file is being
 * replaced) keeps the last CA read and is reported to `onReadError`.
 */
export function tlsWithCaFile(file: string, onReadError: (error: Error) => void): ConnectionOptions {
  let ca: Buffer;
  try {
    ca = readFileSync(file);
  } catch (error) {
    throw new ConfigError(`cannot read redisTlsCaFile ${file}: ${(error as Error).message}`);
  }
  return {
    get ca(): Buffer {
      try {
        ca = readFileSync(file);
      } catch (error) {
        onReadError(error as Error);
      }
      return ca;
    },
  };
}

/**
 * The directory's client: one Redis server, or a Redis Cluster. Every key of a network carries the
 * network's hash tag and every script touches one slot (redis-keys.ts), so the store runs the same
 * commands on either; a cluster spreads the networks over its nodes.
 */
export type DirectoryRedis = Redis | Cluster;

/** What a client was built to reach, for messages: "host:port", or "cluster via host:port". */
const descriptions = new WeakMap<DirectoryRedis, string>();

/** Redirections (MOVED, ASK, a lost node's slot) one cluster command follows before it fails. */
const CLUSTER_MAX_REDIRECTIONS = 3;

/**
 * A client for the directory; it connects in the background (see waitForRedis). With `cluster`,
 * `url` names one node of a Redis Cluster (a seed: the client learns the others and their slots
 * from it); its credentials and TLS serve every node. A cluster has only database 0.
 */
export function createDirectoryRedis(url: string, overrides?: Partial<RedisOptions>, cluster?: false): Redis;
export function createDirectoryRedis(url: string, overrides: Partial<RedisOptions>, cluster: boolean): DirectoryRedis;
export function createDirectoryRedis(
  url: string,
  overrides: Partial<RedisOptions> = {},
  cluster = false,
): DirectoryRedis {
  const redis = cluster ? createClusterClient(url, overrides) : new Redis(url, directoryRedisOptions(overrides));
  // Connection errors reach callers as UnavailableError; the event must not go unheard.
  redis.on('error', () => undefined);
  return redis;
}

function createClusterClient(url: string, overrides: Partial<RedisOptions>): Cluster {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(parsed.port || 6379);
  const { enableAutoPipelining, ...nodeOverrides } = overrides;
  const nodeOptions = directoryRedisOptions({
    ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
    ...nodeOverrides,
  });
  const client = new Cluster([{ host, port }], {
    redisOptions: nodeOptions,
    // As for one server: no queue while the cluster is unreachable, and a backoff to reconnect.
    enableOfflineQueue: false,
    clusterRetryStrategy: nodeOptions.retryStrategy,
    enableAutoPipelining: enableAutoPipelining ?? false,
    scaleReads: 'master',
    // A moved slot needs one or two redirections. ioredis's default of 16, each after a delay,
    // held a call to a dead node's slot for over a second (past callers' deadlines on a busy
    // machine) before it failed; fail it as fast as a lost single server.
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
  });
  descriptions.set(client, `cluster via ${host.includes(':') ? `[${host}]` : host}:${port}`);
  return client;
}

/** The options each connection of `redis` uses (a cluster's per-node options). */
export function connectionOptions(redis: DirectoryRedis): RedisOptions {
  return redis instanceof Cluster ? (redis.options.redisOptions ?? {}) : redis.options;
}

/**
 * Another client to the same Redis with `overrides` (a watch's blocking connection): for a
 * cluster, one that reaches the same nodes, reconnecting as `overrides.retryStrategy` says.
 */
export function duplicateDirectoryRedis(redis: DirectoryRedis, overrides: Partial<RedisOptions>): DirectoryRedis {
  if (!(redis instanceof Cluster)) return redis.duplicate(overrides);
  // The cluster client opens its node connections itself, lazily: a node option saying otherwise
  // breaks them.
  const { lazyConnect, ...nodeOverrides } = overrides;
  const copy = redis.duplicate([], {
    lazyConnect: lazyConnect ?? false,
    redisOptions: { ...redis.options.redisOptions, ...nodeOverrides },
    enableOfflineQueue: overrides.enableOfflineQueue ?? false,
    clusterRetryStrategy: overrides.retryStrategy ?? redis.options.clusterRetryStrategy,
    enableAutoPipelining: false,
  });
  descriptions.set(copy, descriptions.get(redis) ?? 'cluster');
  return copy;
}

/** Resolves once the client is ready; UnavailableError when it is not within `timeoutMs`. */
export function waitForRedis(redis: DirectoryRedis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onReady = (): void => finish();
    const onError = (error: Error): void => {
      lastError = error;
    };
    const onEnd = (): void => finish(lastError ?? new Error('the connection was closed'));
    const timer = setTimeout(() => finish(lastError ?? new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    function finish(error?: Error): void {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      redis.off('end', onEnd);
      if (error) reject(unavailable(redis, error));
      else resolve();
    }
    redis.on('ready', onReady);
    redis.on('error', onError);
    redis.once('end', onEnd);
  });
}

/** Where a client points, for messages: "host:port", the socket path, or "cluster via host:port". */
export function redisAddress(redis: DirectoryRedis): string {
  const described = descriptions.get(redis);
  if (described) return described;
  if (redis instanceof Cluster) return 'cluster';
  const { host, port, path } = redis.options as RedisOptions & { path?: string };
  return path ? path : `${host ?? 'localhost'}:${port ?? 6379}`;
}

/**
 * Replies that mean "not now" rather than "never": loading a dataset, busy with a script, failing
 * over, out of memory until the sweeper frees some, or a cluster slot whose owner moved or is
 * unreachable (MOVED, ASK past the client's redirections).
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|OOM|MOVED|ASK)\b/;

export function unavailable(redis: DirectoryRedis, cause: unknown): UnavailableError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new UnavailableError(
    `the directory's Redis at ${redisAddress(redis)} is unreachable: ${message}; retry later`,
  );
}

/**
 * The store error for anything a Redis call threw. Domain errors pass through; a reply error
 * that is not transient (a script bug, a key of the wrong type) is returned as it is, since
 * retrying would not help; everything else (no connection, timeouts, transient replies) is
 * UnavailableError.
 */
export function storeErrorFrom(redis: DirectoryRedis, error: unknown): Error {
  if (error instanceof GrapevineError) return error;
  if (error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) return error;
  return unavailable(redis, error);
}

/**
 * True when calls would fail anyway: the client lost its connection and is waiting to reconnect
 * (or gave up). Failing at once keeps a client built with an offline queue from queueing.
 */
export function isDisconnected(redis: DirectoryRedis): boolean {
  return redis.status === 'reconnecting' || redis.status === 'close' || redis.status === 'end';
}
