/**
 * Directory configuration. Every field has its default and description here; the CLI's --help
 * and README.md's table come from this schema. Contradictory settings are rejected, never
 * silently resolved.
 */
import { z } from 'zod';
import { fields } from '../common/config';
import { keepaliveFields } from '../common/grpc-server';
import { checkTlsFields, tlsFields } from '../common/tls';

/** Port of the gRPC API. */
export const DEFAULT_DIRECTORY_GRPC_PORT = 7_400;
/** Port of /metrics. */
export const DEFAULT_DIRECTORY_METRICS_PORT = 9_400;
/** Lease TTL granted when a peer asks for none, in seconds. */
export const DEFAULT_LEASE_TTL_S = 30;
/** Shortest lease granted: shorter leases make renewals the bulk of the load. */
export const DEFAULT_MIN_LEASE_TTL_S = 5;
/** Longest lease granted: longer leases keep a crashed peer listed longer. */
export const DEFAULT_MAX_LEASE_TTL_S = 3_600;
/** How often each replica sweeps ended leases; bounds how late an expiry's DELETE may come. */
export const DEFAULT_SWEEP_INTERVAL_MS = 500;
/** Change events kept per network for Watch to resume from. */
export const DEFAULT_LOG_RETENTION = 10_000;
/** How often an idle Watch stream gets a progress notification (its current revision). */
export const DEFAULT_WATCH_PROGRESS_MS = 10_000;
/**
 * Longest a Watch stream lives before the directory ends it (OK) and the client resumes from its
 * last revision, as Kubernetes ends watches and Consul its blocking queries: a stream whose client
 * is gone without a word (a client library that lost its cancel) holds its place this long at most.
 */
export const DEFAULT_WATCH_MAX_LIFETIME_MS = 1_800_000;
/** Least time between two messages on one Watch stream: batches a busy network's events. */
export const DEFAULT_WATCH_BATCH_MS = 20;
/** How long SIGTERM waits for calls in flight before cancelling them. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * Registrations one client address may make per second, sustained (twice as many at once). A
 * peer registers once per lease; an introducer registers each newcomer it admits and, after a
 * store loss, each member of its share again, so it needs the most.
 */
export const DEFAULT_REGISTRATIONS_PER_SOURCE_PER_SECOND = 100;

export const directoryConfigSchema = z
  .object({
    host: fields.host().default('127.0.0.1').describe('address the gRPC API binds to (0.0.0.0 for all)'),
    grpcPort: fields.port().default(DEFAULT_DIRECTORY_GRPC_PORT).describe('port of the gRPC API (0 picks a free one)'),
    metricsHost: fields.host().default('127.0.0.1').describe('address /metrics binds to'),
    metricsPort: fields
      .port()
      .default(DEFAULT_DIRECTORY_METRICS_PORT)
      .describe('port of /metrics (0 picks a free one)'),
    metrics: fields.bool().default(true).describe('serve /metrics'),
    healthPort: fields
      .port()
      .default(0)
      .describe('plaintext port serving grpc.health.v1 only, for Kubernetes probes (they cannot speak TLS); 0: off'),
    ...tlsFields,
    ...keepaliveFields,
    redisUrl: z
      .union([z.literal(''), fields.redisUrl()])
      .default('')
      .describe('Redis URL (also REDIS_URL); empty keeps peers in process memory, for development only'),
    redisCluster: fields
      .bool()
      .default(false)
      .describe(
        'redisUrl names one node of a Redis Cluster (the others are learned from it): networks spread over its nodes, one network to a slot',
      ),
    redisTlsCaFile: z
      .string()
      .default('')
      .describe(
        "PEM CA bundle the Redis server's certificate must chain to, for a rediss:// redisUrl, read again at each connection; empty: the system's roots",
      ),
    defaultTtlSeconds: fields
      .seconds(1, 86_400)
      .default(DEFAULT_LEASE_TTL_S)
      .describe(
        'lease TTL granted when Register asks for 0; a crashed peer stays listed up to this long unless gossip reports it',
      ),
    minTtlSeconds: fields
      .seconds(1, 86_400)
      .default(DEFAULT_MIN_LEASE_TTL_S)
      .describe('shortest TTL Register may ask for; shorter leases make renewals the bulk of the load'),
    maxTtlSeconds: fields
      .seconds(1, 86_400)
      .default(DEFAULT_MAX_LEASE_TTL_S)
      .describe("longest TTL Register may ask for; also how long a removed peer's seq floor blocks replays"),
    sweepIntervalMs: fields
      .ms(10, 60_000)
      .default(DEFAULT_SWEEP_INTERVAL_MS)
      .describe("how often each replica ends expired leases; an expiry's DELETE comes at most this late"),
    logRetention: fields
      .count(100, 10_000_000)
      .default(DEFAULT_LOG_RETENTION)
      .describe('change events kept per network for Watch to resume from; older revisions answer OUT_OF_RANGE'),
    watchProgressMs: fields
      .ms(100, 600_000)
      .default(DEFAULT_WATCH_PROGRESS_MS)
      .describe('how often an idle Watch gets a progress message carrying the current revision'),
    watchMaxLifetimeMs: fields
      .ms(0, 86_400_000)
      .default(DEFAULT_WATCH_MAX_LIFETIME_MS)
      .describe(
        'longest a Watch stream lives: each ends (OK) at a random time between half of this and all of it, and clients resume from their last revision; 0: no limit',
      ),
    watchBatchMs: fields
      .ms(0, 1_000)
      .default(DEFAULT_WATCH_BATCH_MS)
      .describe(
        'least time between two messages on one Watch stream; a quiet stream sends at once, a busy one batches (adds up to this much lag)',
      ),
    introducerToken: z
      .string()
      .default('')
      .describe(
        'shared secret introducers present to evict dead peers (the introducers take the same setting); empty: Evict answers PERMISSION_DENIED',
      ),
    registrationsPerSourcePerSecond: fields
      .count(1, 1_000_000)
      .default(DEFAULT_REGISTRATIONS_PER_SOURCE_PER_SECOND)
      .describe(
        'registrations one client address may make per second (twice as many at once); more answer RESOURCE_EXHAUSTED',
      ),
    shutdownGraceMs: fields
      .ms(0, 600_000)
      .default(DEFAULT_SHUTDOWN_GRACE_MS)
      .describe('how long SIGTERM waits for calls in flight before cancelling them'),
    logLevel: fields.logLevel().default('info').describe('fatal, error, warn, info, debug, trace or silent'),
  })
  .superRefine((config, context) => {
    checkTlsFields(config, context, 'server');
    if (config.redisTlsCaFile !== '' && !/^rediss:\/\//i.test(config.redisUrl)) {
      context.addIssue({
        code: 'custom',
        path: ['redisTlsCaFile'],
        message: 'redisTlsCaFile is set but redisUrl is not a rediss:// URL: Redis over TLS needs rediss://',
      });
    }
    if (config.redisCluster && config.redisUrl === '') {
      context.addIssue({
        code: 'custom',
        path: ['redisCluster'],
        message: 'redisCluster is set but redisUrl is empty: give the URL of one node of the cluster',
      });
    } else if (config.redisCluster && !/^rediss?:\/\/[^/]*\/?0?$/i.test(config.redisUrl)) {
      context.addIssue({
        code: 'custom',
        path: ['redisCluster'],
        message: `a Redis Cluster has only database 0, but redisUrl ${JSON.stringify(config.redisUrl)} names another: drop the /<db> from the URL`,
      });
    }
    if (config.minTtlSeconds > config.maxTtlSeconds) {
      context.addIssue({
        code: 'custom',
        path: ['minTtlSeconds'],
        message: `minTtlSeconds (${config.minTtlSeconds}) must not exceed maxTtlSeconds (${config.maxTtlSeconds})`,
      });
    }
    if (config.defaultTtlSeconds < config.minTtlSeconds || config.defaultTtlSeconds > config.maxTtlSeconds) {
      context.addIssue({
        code: 'custom',
        path: ['defaultTtlSeconds'],
        message: `defaultTtlSeconds (${config.defaultTtlSeconds}) must lie within minTtlSeconds..maxTtlSeconds (${config.minTtlSeconds}..${config.maxTtlSeconds})`,
      });
    }
  });

export type DirectoryConfig = z.infer<typeof directoryConfigSchema>;
