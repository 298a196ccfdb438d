/**
 * `grapevine introducer`: a gossip member with larger views (a host underneath, on the same gRPC
 * server) that admits newcomers through Join and keeps the directory true for its share of the
 * members. Replicas find each other in the directory by the role label on their records.
 */
import { performance } from 'node:perf_hooks';
import type { Counter } from 'prom-client';
import { DirectoryClient } from '../client/directory-client';
import { RegistrationBatcher } from '../client/registration-batcher';
import { RenewalBatcher } from '../client/renewal-batcher';
import type { Identity } from '../common/identity';
import type { Logger } from '../common/logging';
import { channelCredentials } from '../common/tls';
import { createRegistry, type Registry } from '../common/metrics';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import { applicationFields, hostConfigSchema, memberFields } from '../host/config';
import { RateLimiter } from '../common/rate-limiter';
import { startHost, type RunningHost } from '../host/server';
import { createRng, PROFILES, type MembershipConfig, type MembershipEvent } from '../membership';
import type { IntroducerConfig } from './config';
import type { IntroducerContext } from './context';
import { DirectoryKeeper } from './directory-keeper';
import { DirectoryMirror, INTRODUCER_ROLE, ROLE_LABEL } from './directory-mirror';
import { createIntroducerMetrics } from './metrics';
import { introducerService } from './service';

/** An introducer's views are this many times a host's: it is where newcomers come in. */
const VIEW_SCALE = 2;
const MAX_ACTIVE_VIEW = 32;
const MAX_PASSIVE_VIEW = 1_024;

export interface IntroducerComponents {
  readonly log: Logger;
  readonly registry?: Registry;
  readonly identity?: Identity;
  readonly seed?: number;
}

export interface RunningIntroducer {
  readonly peerId: string;
  readonly address: string;
  readonly grpcPort: number;
  readonly metricsPort?: number;
  /** host:port of the application listener (Peers, Send, Flood, Receive), when `application` is on. */
  readonly appAddress?: string;
  /** The gossip member underneath. */
  readonly host: RunningHost;
  /** Members this replica probes now. */
  shareSize(): number;
  /** Dial-backs of newcomers in flight now. */
  dialBacksInFlight(): number;
  /** Resolves once the first list of the directory has been read. */
  readonly directoryListed: Promise<void>;
  stop(): Promise<void>;
}

/** The membership settings of an introducer: its profile's, with views VIEW_SCALE times larger. */
export function introducerMembership(config: IntroducerConfig): MembershipConfig {
  const profile = PROFILES[config.profile];
  const expected = config.expectedPeers ? { expectedPeers: config.expectedPeers } : {};
  const base = profile(expected);
  return profile({
    ...expected,
    activeViewSize: Math.min(MAX_ACTIVE_VIEW, VIEW_SCALE * base.activeViewSize),
    passiveViewSize: Math.min(MAX_PASSIVE_VIEW, VIEW_SCALE * base.passiveViewSize),
  });
}

export async function startIntroducer(
  config: IntroducerConfig,
  components: IntroducerComponents,
): Promise<RunningIntroducer> {
  const log = components.log.child({ component: 'introducer' });
  const registry = components.registry ?? createRegistry({ network: config.network });
  const metrics = createIntroducerMetrics(registry);
  const rng = createRng(components.seed ?? Math.floor(Math.random() * 2 ** 32));
  let context: IntroducerContext | undefined;
  let keeper: DirectoryKeeper | undefined;

  const onEvent = (event: MembershipEvent) => {
    if (!keeper) return;
    if (event.type === 'dead') keeper.onRumouredDead(event.peer);
    else if (event.type === 'record') {
      const signed = host.node.recordOf(event.peer) as SignedRecord | undefined;
      if (signed) void keeper.onNewerRecord(event.peer, signed, event.seq);
    }
  };
  const host = await startHost(memberConfig(config), {
    log: components.log,
    registry,
    identity: components.identity,
    membership: introducerMembership(config),
    seed: components.seed,
    services: [introducerService(log, () => context)],
    onEvent,
    application: config.application,
  });

  const directory = new DirectoryClient(config.directory, {
    registry,
    credentials: channelCredentials(config),
    introducerToken: config.introducerToken,
    // The host's verified-record cache: the mirror's watch returns the records joins just checked.
    openRecord: (signed) => host.member.open(signed, 'record'),
  });
  // Each batcher counts its calls and the entries they carried: their ratio is the batch size.
  const counting = (calls: Counter, carried: Counter) => (entries: number) => {
    calls.inc();
    carried.inc(entries);
  };
  const registrations = new RegistrationBatcher(directory, counting(metrics.registerCalls, metrics.registerEntries));
  const renewals = new RenewalBatcher(directory, counting(metrics.renewCalls, metrics.renewEntries));
  const mirror: DirectoryMirror = new DirectoryMirror(
    directory,
    config.network,
    {
      put: (entry) => keeper?.onPut(entry),
      deleted: (entry) => keeper?.onDeleted(entry),
      vanished: (entry) => keeper?.onVanished(entry),
    },
    log,
  );
  const clock = () => performance.now();
  keeper = new DirectoryKeeper({
    network: config.network,
    directory,
    registrations,
    renewals,
    mirror,
    member: host.member,
    probeIntervalMs: config.memberProbeIntervalMs,
    probeTimeoutMs: config.memberProbeTimeoutMs,
    suspicionMs: config.memberSuspicionMs,
    indirectProbes: config.indirectProbes,
    leaseTtlSeconds: config.directoryTtlSeconds,
    rng,
    clock,
    metrics,
    log,
  });
  context = {
    config,
    member: host.member,
    node: host.node,
    directory,
    registrations,
    mirror,
    keeper,
    joinLimiter: new RateLimiter(config.joinsPerSourcePerSecond, 2 * config.joinsPerSourcePerSecond, clock),
    dialBacks: { inFlight: 0 },
    rng,
    metrics,
    log,
  };
  mirror.start();
  keeper.start();
  if (config.introducerToken === '') {
    log.warn('no introducerToken: dead peers stay in the directory until their lease ends');
  }
  log.info({ peerId: host.peerId, address: host.address, directory: config.directory }, 'introducer serving');

  const running = keeper;
  const dialBacks = context.dialBacks;
  let stopping: Promise<void> | undefined;
  return {
    peerId: host.peerId,
    address: host.address,
    grpcPort: host.grpcPort,
    metricsPort: host.metricsPort,
    appAddress: host.appAddress,
    host,
    shareSize: () => running.shareSize,
    dialBacksInFlight: () => dialBacks.inFlight,
    directoryListed: mirror.ready,
    stop: () =>
      (stopping ??= (async () => {
        running.stop();
        await mirror.stop();
        await host.stop();
        directory.close();
      })()),
  };
}

/** The host underneath: the member settings, and the role label replicas find each other by. */
function memberConfig(config: IntroducerConfig) {
  const member: Record<string, unknown> = {};
  for (const key of [...Object.keys(memberFields), ...Object.keys(applicationFields)]) {
    member[key] = config[key as keyof IntroducerConfig];
  }
  member.labels = { ...config.labels, [ROLE_LABEL]: INTRODUCER_ROLE };
  return Object.freeze(hostConfigSchema.parse(member));
}
