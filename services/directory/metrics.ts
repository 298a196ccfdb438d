/** grapevine_directory_* metrics: what the directory is for, in numbers an operator can alert on. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { Registry } from '../common/metrics';
import { REDIS_COMMAND_NAMES, RedisCommandName, RedisCommandObserver } from './store/redis-command-observer';

export interface DirectoryMetrics {
  readonly registrations: Counter<'outcome'>;
  readonly renewals: Counter<'outcome'>;
  readonly deregistrations: Counter<'outcome'>;
  readonly recordUpdates: Counter<'outcome'>;
  readonly evictions: Counter<'outcome'>;
  readonly expiries: Counter;
  readonly watchers: Gauge;
  readonly watchEvents: Counter<'type'>;
  readonly sweepSeconds: Histogram;
  readonly storeUp: Gauge;
  /** Feeds grapevine_directory_redis_command_duration_seconds and _redis_errors_total. */
  readonly redisCommands: RedisCommandObserver;
  /**
   * Counts a Watch message written past grpc-js's interceptors (watch-transport.ts) in
   * grpc_server_msg_sent_total, as the interceptor counts every other message.
   */
  readonly watchMessageSent: () => void;
}

/** Redis command latency buckets in seconds: from 50 µs (a GET on loopback) to 2.5 s (XREAD blocks for a second). */
const REDIS_BUCKETS_S = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5];

/** `countPeers` feeds the per-network peers gauge at scrape time. */
export function createDirectoryMetrics(
  registry: Registry,
  countPeers: () => Promise<Map<string, number>>,
): DirectoryMetrics {
  const registers = [registry];
  new Gauge({
    name: 'grapevine_directory_peers',
    help: 'Live (leased) peers per network, read from the store at scrape time.',
    labelNames: ['network'],
    registers,
    async collect() {
      this.reset();
      try {
        for (const [network, count] of await countPeers()) this.set({ network }, count);
      } catch {
        // The store is down: report nothing rather than zero, which would look like an empty network.
      }
    },
  });
  const metrics: DirectoryMetrics = {
    registrations: new Counter({
      name: 'grapevine_directory_registrations_total',
      help: 'Registrations (Register calls and RegisterBatch entries) by outcome (ok, or the gRPC code name of the refusal).',
      labelNames: ['outcome'],
      registers,
    }),
    renewals: new Counter({
      name: 'grapevine_directory_renewals_total',
      help: 'Renew calls by outcome (ok, not_found for a lost lease, or another code name).',
      labelNames: ['outcome'],
      registers,
    }),
    deregistrations: new Counter({
      name: 'grapevine_directory_deregistrations_total',
      help: 'Deregister calls by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    recordUpdates: new Counter({
      name: 'grapevine_directory_record_updates_total',
      help: 'UpdateRecord calls by outcome (ok, or the gRPC code name of the refusal).',
      labelNames: ['outcome'],
      registers,
    }),
    evictions: new Counter({
      name: 'grapevine_directory_evictions_total',
      help: 'Evict calls by outcome (ok, unauthenticated, permission_denied, failed_precondition when the peer changed its record, not_found, ...).',
      labelNames: ['outcome'],
      registers,
    }),
    expiries: new Counter({
      name: 'grapevine_directory_expiries_total',
      help: 'Leases this replica ended because their deadline passed.',
      registers,
    }),
    watchers: new Gauge({
      name: 'grapevine_directory_watchers',
      help: 'Watch streams open on this replica.',
      registers,
    }),
    watchEvents: new Counter({
      name: 'grapevine_directory_watch_events_sent_total',
      help: 'Change events written to Watch streams, by type (put, delete).',
      labelNames: ['type'],
      registers,
    }),
    sweepSeconds: new Histogram({
      name: 'grapevine_directory_sweep_duration_seconds',
      help: 'Seconds one expiry sweep took.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    storeUp: new Gauge({
      name: 'grapevine_directory_store_up',
      help: '1 when the store (Redis) answers, 0 when it does not.',
      registers,
    }),
    redisCommands: redisCommandMetrics(registers),
    watchMessageSent: watchMessageCounter(registry),
  };
  // Every outcome counter's ok series exists from the start, so rate() answers 0 rather than
  // nothing until the first call (UpdateRecord and Evict can be rare for hours).
  for (const counter of [
    metrics.registrations,
    metrics.renewals,
    metrics.deregistrations,
    metrics.recordUpdates,
    metrics.evictions,
  ]) {
    counter.inc({ outcome: 'ok' }, 0);
  }
  return metrics;
}

/** The gRPC server's own message counter for Watch, found once the server has made it. */
function watchMessageCounter(registry: Registry): () => void {
  let sent: { inc(): void } | undefined;
  return () => {
    if (!sent) {
      const counter = registry.getSingleMetric('grpc_server_msg_sent_total') as Counter | undefined;
      if (!counter) return;
      sent = counter.labels({
        grpc_type: 'server_stream',
        grpc_service: 'grapevine.v1.DirectoryService',
        grpc_method: 'Watch',
      });
    }
    sent.inc();
  };
}

function redisCommandMetrics(registers: Registry[]): RedisCommandObserver {
  const seconds = new Histogram({
    name: 'grapevine_directory_redis_command_duration_seconds',
    help: 'Seconds from sending a Redis command to its reply, by command: a Lua script by name (register, renew, update, evict, sweep, ...) or a plain command (get, xrange, xread, ...; xread blocks up to a second while nothing changes).',
    labelNames: ['command'],
    buckets: REDIS_BUCKETS_S,
    registers,
  });
  const errors = new Counter({
    name: 'grapevine_directory_redis_errors_total',
    help: 'Redis commands that failed (no connection, timeout, an error reply), by command.',
    labelNames: ['command'],
    registers,
  });
  // Bound once: every Redis command passes here, and resolving labels costs more than observing.
  const bound = new Map(
    REDIS_COMMAND_NAMES.map((command) => {
      const failures = errors.labels(command);
      failures.inc(0); // every command's series exists from the start, so rate() answers 0, not nothing
      return [command, { seconds: seconds.labels(command), failures }] as const;
    }),
  );
  return {
    observe(command: RedisCommandName, elapsed: number, failed: boolean) {
      const metric = bound.get(command);
      if (!metric) return;
      metric.seconds.observe(elapsed);
      if (failed) metric.failures.inc();
    },
  };
}
