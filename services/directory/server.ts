/**
 * `grapevine directory`: the Directory gRPC service over a store, its expiry sweeper, its health
 * monitor and its metrics endpoint, with a shutdown that ends watches, drains calls and closes
 * the store.
 */
import { performance } from 'node:perf_hooks';
import { UnavailableError } from '../common/errors';
import { RunningGrpcServer, startGrpcServer } from '../common/grpc-server';
import { Logger } from '../common/logging';
import { MAX_GRPC_MESSAGE_BYTES, MAX_WATCHERS, MAX_WATCHERS_PER_CLIENT } from '../common/limits';
import { MetricsServer, Registry, createRegistry, serveMetrics } from '../common/metrics';
import { PeriodicTask, startPeriodic } from '../common/periodic';
import { serverCredentials } from '../common/tls';
import { RateLimiter } from '../common/rate-limiter';
import { DirectoryConfig } from './config';
import { DirectoryContext } from './context';
import { createDirectoryMetrics } from './metrics';
import { directoryService } from './service';
import { createMemoryStore } from './store/memory-store';
import { createDirectoryRedis, tlsWithCaFile, waitForRedis, type DirectoryRedis } from './store/redis-connection';
import { createRedisStore } from './store/redis-store';
import { DirectoryStore, StoreOptions } from './store/store';
import { WatchFanout } from './watch-fanout';
import { WatchRegistry } from './watch-registry';

/** How often the health monitor asks the store whether it answers. */
const HEALTH_INTERVAL_MS = 1_000;
/**
 * Bytes a watcher may leave unsent before it is cut off: a stalled client must not make the
 * directory buffer the whole change log. It resumes from the revision named in the status.
 */
const MAX_WATCH_UNREAD_BYTES = 4 * 1_024 * 1_024;
/** Bytes of events one Watch message carries at most: a client's default limit is 4 MiB, ours 256 KiB. */
const MAX_WATCH_MESSAGE_BYTES = MAX_GRPC_MESSAGE_BYTES;
/** How long start-up waits for Redis before serving NOT_SERVING and retrying in the background. */
const REDIS_START_WAIT_MS = 2_000;

export interface DirectoryComponents {
  readonly log: Logger;
  /** Defaults to a fresh registry with the default Node metrics. */
  readonly registry?: Registry;
  /** Defaults to Date.now. */
  readonly now?: () => number;
}

export interface RunningDirectory {
  readonly grpcPort: number;
  /** Undefined when metrics are off. */
  readonly metricsPort?: number;
  readonly storeKind: 'redis' | 'memory';
  stop(): Promise<void>;
}

export async function startDirectory(
  config: DirectoryConfig,
  components: DirectoryComponents,
): Promise<RunningDirectory> {
  const log = components.log.child({ component: 'directory' });
  const registry = components.registry ?? createRegistry();
  const now = components.now ?? Date.now;
  const storeOptions: StoreOptions = {
    logRetention: config.logRetention,
    seqFloorRetentionMs: config.maxTtlSeconds * 1_000,
    now,
  };
  // The peers gauge reads the store at scrape time, which comes only once the store exists.
  const metrics = createDirectoryMetrics(registry, () => store.countPeers());
  const redis = config.redisUrl
    ? await connectRedis(config.redisUrl, config.redisCluster, config.redisTlsCaFile, log)
    : undefined;
  const store: DirectoryStore = redis
    ? createRedisStore({ redis, log, commands: metrics.redisCommands }, storeOptions)
    : createMemoryStore(storeOptions);
  const closeStore = async () => {
    await store.close();
    redis?.disconnect();
  };

  const watches = new WatchRegistry(
    { maxWatchers: MAX_WATCHERS, maxWatchersPerClient: MAX_WATCHERS_PER_CLIENT },
    (count) => metrics.watchers.set(count),
  );
  // A monotonic clock: the store's clock may be moved by tests, and a limiter must not run backwards.
  const registrations = new RateLimiter(
    config.registrationsPerSourcePerSecond,
    2 * config.registrationsPerSourcePerSecond,
    () => performance.now(),
  );
  const sentPuts = metrics.watchEvents.labels('put');
  const sentDeletes = metrics.watchEvents.labels('delete');
  const watchFanout = new WatchFanout(store, {
    batchMs: config.watchBatchMs,
    maxUnreadBytes: MAX_WATCH_UNREAD_BYTES,
    maxMessageBytes: MAX_WATCH_MESSAGE_BYTES,
    onSent: (puts, deletes) => {
      if (puts > 0) sentPuts.inc(puts);
      if (deletes > 0) sentDeletes.inc(deletes);
    },
  });
  const context: DirectoryContext = { store, config, metrics, log, watches, watchFanout, registrations, now };

  let grpc: RunningGrpcServer | undefined;
  let metricsServer: MetricsServer | undefined;
  const loops: PeriodicTask[] = [];
  try {
    grpc = await startGrpcServer({
      host: config.host,
      port: config.grpcPort,
      credentials: serverCredentials(config),
      healthPort: config.healthPort,
      services: [directoryService(context)],
      keepalive: config,
      registry,
      log,
    });
    if (config.metrics) metricsServer = await serveMetrics(registry, config.metricsHost, config.metricsPort);
  } catch (error) {
    await grpc?.shutdown(0);
    await closeStore();
    throw error;
  }
  const server = grpc;

  loops.push(
    startPeriodic(
      config.sweepIntervalMs,
      async () => {
        const stopTimer = metrics.sweepSeconds.startTimer();
        const ended = await store.sweepExpired();
        stopTimer();
        if (ended > 0) metrics.expiries.inc(ended);
      },
      (error) => log.debug({ err: (error as Error).message }, 'expiry sweep failed; next sweep retries'),
    ),
  );
  let storeUp: boolean | undefined;
  const checkHealth = async () => {
    let up = true;
    try {
      await store.ping();
    } catch {
      up = false;
    }
    if (up !== storeUp) {
      storeUp = up;
      metrics.storeUp.set(up ? 1 : 0);
      server.setServing(up);
      if (up) log.info('store answers: serving');
      else log.warn('store does not answer: health is NOT_SERVING until it does');
    }
  };
  await checkHealth();
  loops.push(startPeriodic(HEALTH_INTERVAL_MS, checkHealth, () => {}));

  log.info(
    {
      grpc: `${config.host}:${server.port}`,
      metrics: metricsServer ? `${config.metricsHost}:${metricsServer.port}` : 'off',
      store: config.redisUrl ? redactUrl(config.redisUrl) : 'memory',
    },
    'directory serving',
  );

  let stopping: Promise<void> | undefined;
  return {
    grpcPort: server.port,
    metricsPort: metricsServer?.port,
    storeKind: config.redisUrl ? 'redis' : 'memory',
    stop: () =>
      (stopping ??= (async () => {
        log.info('directory stopping');
        await Promise.all(loops.map((loop) => loop.stop()));
        server.setServing(false);
        watches.endAll(
          new UnavailableError(
            'the directory replica is shutting down; watch again (from the last revision) on another replica',
          ),
        );
        watchFanout.stop();
        await server.shutdown(config.shutdownGraceMs);
        await metricsServer?.close();
        await closeStore();
        log.info('directory stopped');
      })()),
  };
}

/**
 * A Redis client that fails calls at once while Redis is away and reconnects by itself (see
 * store/redis-connection.ts). Start-up does not wait for Redis: health says NOT_SERVING until it
 * answers. Each new error is logged once, not at every reconnect attempt.
 */
async function connectRedis(url: string, cluster: boolean, tlsCaFile: string, log: Logger): Promise<DirectoryRedis> {
  // A rediss:// URL alone trusts the system's roots; a private CA is read at every connection.
  let lastCaError = '';
  const tls =
    tlsCaFile === ''
      ? undefined
      : tlsWithCaFile(tlsCaFile, (error) => {
          if (error.message !== lastCaError)
            log.warn({ err: error.message, file: tlsCaFile }, 'cannot read redisTlsCaFile: using the CA read before');
          lastCaError = error.message;
        });
  const redis = createDirectoryRedis(url, { enableAutoPipelining: true, ...(tls && { tls }) }, cluster);
  const where = redactUrl(url);
  let lastError = '';
  redis.on('error', (error: Error) => {
    if (error.message !== lastError) log.warn({ err: error.message, redis: where }, 'redis error');
    lastError = error.message;
  });
  redis.on('ready', () => {
    if (lastError) log.info({ redis: where }, 'redis is back');
    lastError = '';
  });
  await waitForRedis(redis, REDIS_START_WAIT_MS).catch((error: Error) =>
    log.warn({ err: error.message, redis: where }, 'redis unreachable at start; serving NOT_SERVING and retrying'),
  );
  return redis;
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
