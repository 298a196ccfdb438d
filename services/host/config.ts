/**
 * Host configuration: every field with its default and description; the CLI's --help and
 * README.md's table come from this schema. The membership protocol's own settings come from a
 * profile (lan, wan, local) in services/membership/config.ts.
 */
import { z } from 'zod';
import { fields } from '../common/config';
import { keepaliveFields } from '../common/grpc-server';
import { checkTlsFields, tlsFields, type TlsSettings } from '../common/tls';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import { parseHostPort } from '../common/records';
import { DEFAULT_FLOOD_TTL_HOPS } from '../membership/config';

/** Port of the Host gRPC API. */
export const DEFAULT_HOST_GRPC_PORT = 7_600;
/** Port of /metrics. */
export const DEFAULT_HOST_METRICS_PORT = 9_600;
/** Port of the application listener (Send, Flood, Receive, Peers), on loopback by default. */
export const DEFAULT_HOST_APP_PORT = 7_700;
/** Largest application payload (Send, Flood); the gRPC frame around it must fit the message bound. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 32 * 1_024;
/**
 * Highest flood TTL a caller may ask for, or a peer relay: the core's default flood TTL, since a
 * lower bound would have the peers refuse every flood sent without a TTL.
 */
export const DEFAULT_MAX_FLOOD_TTL_HOPS = DEFAULT_FLOOD_TTL_HOPS;
/** Calls one peer may make per second, sustained; gossip needs a few per probe period. */
export const DEFAULT_PEER_CALLS_PER_SECOND = 200;
/**
 * Receive streams one host serves at once. An application needs one or a few; the bound keeps
 * callers that open streams and never read them (or lose their cancel) from multiplying every
 * message the host receives.
 */
export const DEFAULT_MAX_RECEIVE_STREAMS = 16;
/** Least time between two peer cache writes while the view churns. */
export const DEFAULT_CACHE_WRITE_INTERVAL_MS = 5_000;
/** How long SIGTERM waits for calls in flight before cancelling them. */
export const DEFAULT_HOST_SHUTDOWN_GRACE_MS = 5_000;

/**
 * The settings of a gossip member, shared by hosts and introducers (an introducer is a member with
 * larger views); each role adds its own and sets its own ports.
 */
export const memberFields = {
  host: fields.host().default('127.0.0.1').describe('address the gRPC API binds to (0.0.0.0 for all)'),
  grpcPort: fields.port().default(DEFAULT_HOST_GRPC_PORT).describe('port of the gRPC API (0 picks a free one)'),
  advertiseAddress: z
    .string()
    .default('')
    .refine((text) => text === '' || parseHostPort(text) !== undefined, 'must be host:port (IPv6 in brackets)')
    .describe('host:port peers reach this host at; empty: host:grpcPort (must be set when host is 0.0.0.0)'),
  metricsHost: fields.host().default('127.0.0.1').describe('address /metrics binds to'),
  metricsPort: fields.port().default(DEFAULT_HOST_METRICS_PORT).describe('port of /metrics (0 picks a free one)'),
  metrics: fields.bool().default(true).describe('serve /metrics'),
  healthPort: fields
    .port()
    .default(0)
    .describe('plaintext port serving grpc.health.v1 only, for Kubernetes probes (they cannot speak TLS); 0: off'),
  ...tlsFields,
  ...keepaliveFields,
  network: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be an RFC 1123 label (a-z, 0-9, -)')
    .default('default')
    .describe('the network (overlay) this host joins'),
  name: z.string().default('').describe('optional name (RFC 1123 label) to claim in the directory'),
  labels: fields.labels().default({}).describe('labels for the record, k=v,k=v'),
  keyFile: z
    .string()
    .default('')
    .describe('Ed25519 key file (PEM); made at first start when missing; empty: a new identity each start'),
  dataDir: z.string().default('').describe('directory for the peer cache (peers.json); empty: no cache'),
  seeds: fields.list().default([]).describe('static seeds: host:port or peerid@host:port, comma-separated'),
  dnsSeeds: fields
    .list()
    .default([])
    .describe('DNS seeds: name[:port] (A/AAAA) or _service._tcp.name (SRV), comma-separated'),
  dnsResolver: z
    .string()
    .default('')
    .refine((text) => text === '' || parseHostPort(text) !== undefined, 'must be ip:port')
    .describe('DNS server (ip:port) for DNS seeds; empty: the system resolver'),
  directory: z
    .string()
    .default('')
    .refine((text) => text === '' || parseHostPort(text) !== undefined, 'must be host:port')
    .describe('Directory address (host:port) to register with and bootstrap from; empty: none'),
  directoryTtlSeconds: fields
    .seconds(5, 3_600)
    .default(30)
    .describe('lease TTL asked of the directory; renewed every third of it'),
  profile: z
    .enum(['lan', 'wan', 'local'])
    .default('lan')
    .describe('membership timing profile: lan (data centre), wan (internet), local (one machine)'),
  expectedPeers: fields
    .count(0, 100_000_000)
    .default(0)
    .describe("expected network size, which sets the view sizes; 0: the profile's"),
  maxPayloadBytes: fields
    .count(1, MAX_GRPC_MESSAGE_BYTES / 2)
    .default(DEFAULT_MAX_PAYLOAD_BYTES)
    .describe('largest Send or Flood payload; bigger ones answer RESOURCE_EXHAUSTED'),
  maxFloodTtlHops: fields
    .count(1, 255)
    .default(DEFAULT_MAX_FLOOD_TTL_HOPS)
    .describe(
      `highest flood TTL accepted, from the application or relayed by a peer; higher ones answer INVALID_ARGUMENT. Keep it at least the flood TTL (${DEFAULT_FLOOD_TTL_HOPS}), or floods sent without a TTL are refused by the peers`,
    ),
  peerCallsPerSecond: fields
    .count(1, 1_000_000)
    .default(DEFAULT_PEER_CALLS_PER_SECOND)
    .describe(
      'calls one peer may make per second (twice as many at once), membership calls and application messages (Send, Flood) each; more answer RESOURCE_EXHAUSTED',
    ),
  maxReceiveStreams: fields
    .count(1, 10_000)
    .default(DEFAULT_MAX_RECEIVE_STREAMS)
    .describe('Receive streams open at once; more answer RESOURCE_EXHAUSTED'),
  callTimeoutMs: fields
    .ms(50, 60_000)
    .default(2_000)
    .describe('deadline of peer calls other than probes and neighbour requests'),
  cacheWriteIntervalMs: fields
    .ms(100, 3_600_000)
    .default(DEFAULT_CACHE_WRITE_INTERVAL_MS)
    .describe('least time between two peer cache writes while the view changes'),
  shutdownGraceMs: fields
    .ms(0, 600_000)
    .default(DEFAULT_HOST_SHUTDOWN_GRACE_MS)
    .describe('how long SIGTERM waits for calls in flight before cancelling them'),
  logLevel: fields.logLevel().default('info').describe('fatal, error, warn, info, debug, trace or silent'),
};

/** Rules across member fields: a wildcard bind needs an advertised address; names are labels. */
export function checkMemberFields(
  config: { advertiseAddress: string; host: string; name: string } & TlsSettings,
  context: z.RefinementCtx,
): void {
  checkTlsFields(config, context, 'server');
  if (config.advertiseAddress === '' && (config.host === '0.0.0.0' || config.host === '::')) {
    context.addIssue({
      code: 'custom',
      path: ['advertiseAddress'],
      message: `advertiseAddress must be set when host is ${config.host}: peers need an address they can dial`,
    });
  }
  if (config.name !== '' && !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(config.name)) {
    context.addIssue({ code: 'custom', path: ['name'], message: 'must be an RFC 1123 label (a-z, 0-9, -)' });
  }
}

/**
 * The listener of the local application, apart from the peers' port (as Serf keeps its RPC
 * address apart from its gossip port): a peer that reaches the host cannot read its messages or
 * flood in its name. Only hosts have one; an introducer has no application.
 */
export const applicationFields = {
  appHost: fields
    .host()
    .default('127.0.0.1')
    .describe(
      'address the application listener (Send, Flood, Receive, Peers) binds to; keep it on loopback unless the application runs elsewhere',
    ),
  appPort: fields
    .port()
    .default(DEFAULT_HOST_APP_PORT)
    .describe('port of the application listener (0 picks a free one)'),
  appToken: z
    .string()
    // A Bearer value is one run of non-space characters: a token with spaces could never match.
    .regex(/^\S*$/, 'must not contain spaces or line breaks')
    .default('')
    .describe(
      'shared secret every call on the application listener must carry (metadata "authorization: Bearer <token>"); empty: whoever reaches the listener may use it',
    ),
};

export const hostConfigSchema = z.object({ ...memberFields, ...applicationFields }).superRefine(checkMemberFields);

export type HostConfig = z.infer<typeof hostConfigSchema>;

/** Every field at its default, with overrides (tests, dev, benchmarks). */
export function hostConfig(overrides: Partial<z.input<typeof hostConfigSchema>> = {}): HostConfig {
  return Object.freeze(hostConfigSchema.parse(overrides));
}
