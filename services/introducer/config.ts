/**
 * Introducer configuration. An introducer is a gossip member (it takes every member setting of a
 * host, with ports of its own) plus the door newcomers join through and the worker that keeps the
 * directory true. Every field has its default and description here; the CLI's --help and
 * README.md's table come from this schema.
 */
import { z } from 'zod';
import { fields } from '../common/config';
import { applicationFields, checkMemberFields, memberFields } from '../host/config';

/** Port of the Introducer (and its Host) gRPC API. */
export const DEFAULT_INTRODUCER_GRPC_PORT = 7_500;
/** Port of the optional application listener (Peers, Send, Flood, Receive), as a host has. */
export const DEFAULT_INTRODUCER_APP_PORT = 7_502;
/** Port of /metrics. */
export const DEFAULT_INTRODUCER_METRICS_PORT = 9_500;
/** Joins one source address may make per second, sustained (twice as many at once). */
export const DEFAULT_JOINS_PER_SOURCE_PER_SECOND = 5;
/** Dial-backs in flight at once; each holds a connection to a newcomer until it answers. */
export const DEFAULT_MAX_CONCURRENT_DIAL_BACKS = 64;
/** How long a newcomer has to answer the dial-back handshake. */
export const DEFAULT_DIAL_BACK_TIMEOUT_MS = 2_000;
/** Live peers a Join answers with when the newcomer asks for 0. */
export const DEFAULT_SAMPLE_SIZE = 8;
/** Most live peers one Join may ask for. */
export const DEFAULT_MAX_SAMPLE_SIZE = 64;
/** Live peers the directory may hold at one advertised host (IP) before joins from it stop. */
export const DEFAULT_MAX_PEERS_PER_ADDRESS = 1_024;
/** How often each member of this replica's probe share is probed. */
export const DEFAULT_MEMBER_PROBE_INTERVAL_MS = 1_000;
/** How long a member probe (direct, then indirect) waits for an ack. */
export const DEFAULT_MEMBER_PROBE_TIMEOUT_MS = 500;
/** How long a member that failed its direct and indirect probes stays suspected before eviction. */
export const DEFAULT_MEMBER_SUSPICION_MS = 3_000;
/** Members asked to probe a member whose direct probe failed. */
export const DEFAULT_INDIRECT_PROBES = 3;

export const introducerConfigSchema = z
  .object({
    ...memberFields,
    grpcPort: fields.port().default(DEFAULT_INTRODUCER_GRPC_PORT).describe('port of the gRPC API (0 picks a free one)'),
    metricsPort: fields
      .port()
      .default(DEFAULT_INTRODUCER_METRICS_PORT)
      .describe('port of /metrics (0 picks a free one)'),
    application: fields
      .bool()
      .default(false)
      .describe(
        "serve a host's application listener on appHost:appPort, where an operator reads this introducer's views (grapevine host peers) and may send and flood",
      ),
    appHost: applicationFields.appHost,
    appPort: fields
      .port()
      .default(DEFAULT_INTRODUCER_APP_PORT)
      .describe('port of the application listener, when `application` is on (0 picks a free one)'),
    appToken: applicationFields.appToken,
    directory: z
      .string()
      .min(1, 'an introducer needs the directory it keeps true: set host:port')
      .describe('Directory address (host:port) to register newcomers with and keep true; required'),
    introducerToken: z
      .string()
      .default('')
      .describe(
        'shared secret that lets introducers evict dead peers (the directory takes the same setting); empty: Evict is off and dead peers leave when their lease ends',
      ),
    joinsPerSourcePerSecond: fields
      .count(1, 1_000_000)
      .default(DEFAULT_JOINS_PER_SOURCE_PER_SECOND)
      .describe('joins one source address may make per second (twice as many at once); more answer RESOURCE_EXHAUSTED'),
    maxConcurrentDialBacks: fields
      .count(1, 100_000)
      .default(DEFAULT_MAX_CONCURRENT_DIAL_BACKS)
      .describe('dial-backs in flight at once; joins past it answer RESOURCE_EXHAUSTED'),
    dialBackTimeoutMs: fields
      .ms(50, 60_000)
      .default(DEFAULT_DIAL_BACK_TIMEOUT_MS)
      .describe('how long a newcomer has to answer the dial-back handshake on its advertised address'),
    defaultSampleSize: fields
      .count(1, 1_024)
      .default(DEFAULT_SAMPLE_SIZE)
      .describe('live peers a Join answers with when it asks for 0'),
    maxSampleSize: fields
      .count(1, 1_024)
      .default(DEFAULT_MAX_SAMPLE_SIZE)
      .describe('most live peers one Join may ask for; more answer RESOURCE_EXHAUSTED'),
    maxPeersPerAddress: fields
      .count(1, 100_000_000)
      .default(DEFAULT_MAX_PEERS_PER_ADDRESS)
      .describe(
        'live peers the directory may hold at one advertised IP before joins from it answer RESOURCE_EXHAUSTED',
      ),
    memberProbeIntervalMs: fields
      .ms(100, 600_000)
      .default(DEFAULT_MEMBER_PROBE_INTERVAL_MS)
      .describe(
        "how often each member of this replica's probe share is pinged; the probe load is share size / interval",
      ),
    memberProbeTimeoutMs: fields
      .ms(10, 60_000)
      .default(DEFAULT_MEMBER_PROBE_TIMEOUT_MS)
      .describe('how long a member probe waits for an ack, direct and then indirect'),
    memberSuspicionMs: fields
      .ms(0, 600_000)
      .default(DEFAULT_MEMBER_SUSPICION_MS)
      .describe('how long a member that failed its probes stays suspected (and probed) before it is evicted'),
    indirectProbes: fields
      .count(0, 16)
      .default(DEFAULT_INDIRECT_PROBES)
      .describe('members asked to ping a member whose direct probe failed'),
  })
  .superRefine((config, context) => {
    checkMemberFields(config, context);
    if (config.defaultSampleSize > config.maxSampleSize) {
      context.addIssue({
        code: 'custom',
        path: ['defaultSampleSize'],
        message: `defaultSampleSize (${config.defaultSampleSize}) must not exceed maxSampleSize (${config.maxSampleSize})`,
      });
    }
    if (2 * config.memberProbeTimeoutMs > config.memberProbeIntervalMs) {
      context.addIssue({
        code: 'custom',
        path: ['memberProbeTimeoutMs'],
        message: `memberProbeTimeoutMs (${config.memberProbeTimeoutMs}) must be at most half of memberProbeIntervalMs (${config.memberProbeIntervalMs}): a probe waits for a direct and then an indirect ack`,
      });
    }
  });

export type IntroducerConfig = z.infer<typeof introducerConfigSchema>;

/** Every field at its default, with overrides (tests, dev, benchmarks). */
export function introducerConfig(overrides: Partial<z.input<typeof introducerConfigSchema>> = {}): IntroducerConfig {
  return Object.freeze(introducerConfigSchema.parse(overrides));
}
