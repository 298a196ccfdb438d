/**
 * How the directory talks to Redis: client options that make a lost Redis fail calls at once
 * instead of queueing them, and the one mapping from client errors to store errors.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, RedisOptions } from 'ioredis';
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

/** A client for the directory; it connects in the background (see waitForRedis). */
export function createDirectoryRedis(url: string, overrides: Partial<RedisOptions> = {}): Redis {
  const redis = new Redis(url, directoryRedisOptions(overrides));
  // Connection errors reach callers as UnavailableError; the event must not go unheard.
  redis.on('error', () => undefined);
  return redis;
}

/** Resolves once the client is ready; UnavailableError when it is not within `timeoutMs`. */
export function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
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

/** Where a client points, for messages: "host:port" or the socket path. */
export function redisAddress(redis: Redis): string {
  const { host, port, path } = redis.options as RedisOptions & { path?: string };
  return path ? path : `${host ?? 'localhost'}:${port ?? 6379}`;
}

/**
 * Replies that mean "not now" rather than "never": loading a dataset, busy with a script, failing
 * over, out of memory until the sweeper frees some.
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS|OOM)\b/;

export function unavailable(redis: Redis, cause: unknown): UnavailableError {
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
export function storeErrorFrom(redis: Redis, error: unknown): Error {
  if (error instanceof GrapevineError) return error;
  if (error instanceof Error && error.name === 'ReplyError' && !TRANSIENT_REPLY.test(error.message)) return error;
  return unavailable(redis, error);
}

/**
 * True when calls would fail anyway: the client lost its connection and is waiting to reconnect
 * (or gave up). Failing at once keeps a client built with an offline queue from queueing.
 */
export function isDisconnected(redis: Redis): boolean {
  return redis.status === 'reconnecting' || redis.status === 'close' || redis.status === 'end';
}
