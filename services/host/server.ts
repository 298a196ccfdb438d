/**
 * `grapevine host`: the port-listening peer. It wires the membership core to gRPC (driver, peer
 * transport, Host service), bootstraps through its sources, keeps its peer cache and its
 * directory lease, serves health and /metrics, and leaves gracefully on stop.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Metadata, ServiceError, status } from '@grpc/grpc-js';
import { DirectoryClient } from '../client/directory-client';
import { IntroducerClient } from '../client/introducer-client';
import { grpcClientMetricsInterceptor } from '../common/grpc-metrics';
import { COMMON_GRPC_OPTIONS } from '../common/grpc-options';
import { OpenClientStreams, startGrpcServer, type ServiceBinding } from '../common/grpc-server';
import type { Identity } from '../common/identity';
import type { Logger } from '../common/logging';
import { createRegistry, MetricsServer, Registry, serveMetrics } from '../common/metrics';
import { UnavailableError } from '../common/errors';
import { signRecordKeeping, type PeerRecord, type RecordFields } from '../common/records';
import { channelCredentials, serverCredentials } from '../common/tls';
import {
  HandshakeIntent,
  HostServiceClient,
  type HandshakeRequest,
  type HandshakeResponse,
  type MembershipUpdate,
  type Sender,
} from '../gen/grapevine/v1/host';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import {
  createMembershipNode,
  createRng,
  PROFILES,
  type MembershipConfig,
  type MembershipEvent,
  type MembershipNode,
} from '../membership';
import { loadPeerCache, PeerCacheWriter, type CachedPeer } from './bootstrap/peer-cache';
import { parseSeeds } from './bootstrap/static-seeds';
import { Bootstrapper, type Contacted } from './bootstrapper';
import type { HostConfig } from './config';
import { DirectoryLease } from './directory-lease';
import { MembershipDriver } from './driver';
import { loadOrCreateIdentity } from './identity-file';
import { Inbox } from './inbox';
import { createHostMetrics, type HostMetrics } from './metrics';
import { PeerTransport } from './peer-transport';
import { RateLimiter } from '../common/rate-limiter';
import { RecordChecker } from './record-checks';
import { floodMessage, HOST_SERVICE_NAME, hostApplicationService, hostService, type HostContext } from './service';
import { fromWireUpdates, type PeerMethod } from './wire';

export const PEER_CACHE_FILE = 'peers.json';
/** Time a graceful leave's disconnects get to go out before the connections close. */
const LEAVE_FLUSH_MS = 200;
/** Connections a host keeps to peers: its views, with room for the peers that call it. */
const MAX_PEER_CONNECTIONS = 128;

export interface HostComponents {
  readonly log: Logger;
  /** Defaults to a fresh registry with the default Node metrics. */
  readonly registry?: Registry;
  /** Defaults to the key file's identity (or a new one). */
  readonly identity?: Identity;
  /** The membership settings; defaults to the config's profile. */
  readonly membership?: MembershipConfig;
  /** Seeds the core's randomness (simulations and benchmarks repeat runs with it). */
  readonly seed?: number;
  /** More gRPC services on the host's server (an introducer serves its own beside the host's). */
  readonly services?: readonly ServiceBinding[];
  /** Sees every membership event after the host has acted on it. */
  readonly onEvent?: (event: MembershipEvent) => void;
  /** Serve the application listener (appHost:appPort); false for a member with no application (an introducer). */
  readonly application?: boolean;
}

/**
 * What a role built on a host (the introducer) uses of it: its identity as peers see it, its
 * current record, introductions, and calls to peers on the host's kept connections.
 */
export interface MemberAccess {
  readonly self: Sender;
  /** The host's current signed record. */
  record(): SignedRecord;
  /** Verifies a record of this network (throws the status error naming `field`). */
  open(blob: SignedRecord | undefined, field: string): PeerRecord;
  /** Introduces a newcomer: a sample of this member's views (its own record first), and how many neighbours were told of it. */
  introduce(newcomer: SignedRecord): { sample: SignedRecord[]; told: number };
  /** One call to a peer; rejects with its gRPC error. */
  call(address: string, method: PeerMethod, request: unknown, deadlineMs: number): Promise<unknown>;
  /** Hands membership updates a peer piggybacked on an answer to the core (records verified). */
  deliverUpdates(from: Sender, updates: readonly MembershipUpdate[]): void;
}

export interface RunningHost {
  readonly peerId: string;
  /** host:port peers dial. */
  readonly address: string;
  readonly grpcPort: number;
  /** host:port of the application listener (Send, Flood, Receive, Peers), when it has one. */
  readonly appAddress?: string;
  readonly metricsPort?: number;
  /** The membership core, for tests and benchmarks that look at views. */
  readonly node: MembershipNode;
  readonly metrics: HostMetrics;
  readonly member: MemberAccess;
  /** Issues a record with a higher seq and adopts it, as a restarted host would present. */
  reissueRecord(): SignedRecord;
  stop(): Promise<void>;
}

export async function startHost(config: HostConfig, components: HostComponents): Promise<RunningHost> {
  const log = components.log.child({ component: 'host' });
  const registry = components.registry ?? createRegistry({ network: config.network });
  const identity = components.identity ?? (await keyFileIdentity(config, log));
  const membership =
    components.membership ??
    PROFILES[config.profile](config.expectedPeers ? { expectedPeers: config.expectedPeers } : {});
  const clock = () => performance.now();
  /** One per-peer rate budget (twice the rate at once); membership calls and application messages each get one. */
  const peerBudget = () => new RateLimiter(config.peerCallsPerSecond, 2 * config.peerCallsPerSecond, clock);

  let context: HostContext | undefined;
  let node: MembershipNode | undefined;
  const metrics = createHostMetrics(registry, () => node);
  const pushStreams = new OpenClientStreams();
  const grpc = await startGrpcServer({
    host: config.host,
    port: config.grpcPort,
    credentials: serverCredentials(config),
    healthPort: config.healthPort,
    services: [hostService(log, metrics, () => context, pushStreams), ...(components.services ?? [])],
    keepalive: config,
    registry,
    log,
  });
  const application =
    components.application === false
      ? undefined
      : await startGrpcServer({
          host: config.appHost,
          port: config.appPort,
          credentials: serverCredentials(config),
          services: [hostApplicationService(log, metrics, () => context, config.appToken)],
          keepalive: config,
          registry,
          log,
        }).catch(async (error: unknown) => {
          await grpc.shutdown(0);
          throw error;
        });
  const appAddress = application && `${hostForAddress(config.appHost)}:${application.port}`;
  const address = config.advertiseAddress || `${hostForAddress(config.host)}:${grpc.port}`;
  const self = { peerId: identity.peerId, address };
  // The seq only grows, across restarts too: the wall clock in ms is newer than any earlier record.
  let seq = Date.now();
  const recordFields = () => ({
    network: config.network,
    name: config.name,
    addresses: [address],
    labels: config.labels,
    seq,
    issuedAtMs: Date.now(),
    withdrawn: false,
  });
  const checker = new RecordChecker(config.network);
  /** Signs a record of this host's; its own checker takes it without verifying it again. */
  const signOwn = (fields: RecordFields): SignedRecord => {
    const { signed, record } = signRecordKeeping(identity, fields);
    checker.trustOwn(signed, record);
    return signed;
  };
  const record = signOwn(recordFields());
  let driver: MembershipDriver | undefined;
  const credentials = channelCredentials(config);
  const transport = new PeerTransport({
    credentials,
    interceptors: [grpcClientMetricsInterceptor(registry)],
    // A probe's answer counts until the probe ends, a whole interval after it began (the probe
    // timeout only says when to ask others too, as in SWIM): a call cut at the timeout would lose
    // an ack a busy peer sent in time but this one read late, and blame the peer for it.
    deadlineMs: (method) =>
      method === 'ping' || method === 'indirectPing'
        ? membership.probeIntervalMs
        : method === 'handshake'
          ? membership.neighborRequestTimeoutMs
          : config.callTimeoutMs,
    deliver: (answer) => driver?.deliver(answer),
    metrics,
    log,
    maxConnections: MAX_PEER_CONNECTIONS,
  });
  node = createMembershipNode(
    { rng: createRng(components.seed ?? Math.floor(Math.random() * 2 ** 32)), verifyRecord: checker.verifier },
    // An incarnation above any this id used before, so old suspicions of it cannot outrank it.
    { config: membership, record, incarnation: Math.floor(Date.now() / 1_000) },
  );
  const inbox = new Inbox(
    config.maxReceiveStreams,
    (count) => metrics.receivers.set(count),
    () => metrics.receiveDropped.inc(),
  );

  const cacheFile = config.dataDir ? join(config.dataDir, PEER_CACHE_FILE) : undefined;
  const cacheWriter = cacheFile
    ? new PeerCacheWriter({
        path: cacheFile,
        minIntervalMs: config.cacheWriteIntervalMs,
        onSaved: () => metrics.cacheWrites.inc({ outcome: 'ok' }),
        onError: (error) => {
          metrics.cacheWrites.inc({ outcome: 'error' });
          log.warn({ err: (error as Error).message, file: cacheFile }, 'peer cache not saved');
        },
      })
    : undefined;
  const running = node;
  const cacheSnapshot = (): CachedPeer[] => {
    const now = Date.now();
    const entries: CachedPeer[] = [];
    // Neighbours were heard from just now; passive peers as of their record.
    for (const peer of running.activeView())
      entries.push({ record: running.recordOf(peer) as SignedRecord, lastSeenMs: now });
    for (const peer of running.passiveView()) {
      const blob = running.recordOf(peer) as SignedRecord;
      entries.push({
        record: blob,
        lastSeenMs: checker.verifier(blob) ? Math.min(now - 1, issuedAt(checker, blob)) : 0,
      });
    }
    return entries;
  };
  const saveCache = () => {
    if (cacheWriter) cacheWriter.schedule(cacheSnapshot);
  };

  let bootstrapper: Bootstrapper | undefined;
  let hadNeighbour = false;
  const onEvents = (events: readonly MembershipEvent[]) => {
    for (const event of events) {
      switch (event.type) {
        case 'flood':
          inbox.publish(floodMessage(event, Date.now()));
          break;
        case 'neighbor-up':
          hadNeighbour = true;
          saveCache();
          break;
        case 'neighbor-down':
          saveCache();
          break;
        case 'dead':
          log.info({ peer: event.peer, cause: event.cause }, 'peer declared dead');
          saveCache();
          break;
        case 'suspect':
          log.debug({ peer: event.peer, from: event.from }, 'peer suspected');
          break;
        case 'refuted':
          log.info({ incarnation: event.incarnation }, 'refuted a suspicion of this host');
          break;
        case 'isolated':
          // The first peer of a network is alone by design; anyone else has lost its neighbours.
          if (hadNeighbour) log.warn('this host has lost every neighbour and knows no candidate: bootstrapping again');
          bootstrapper?.kick();
          break;
        default:
          break;
      }
      components.onEvent?.(event);
    }
  };
  driver = new MembershipDriver({ node, transport, clock, onEvents });

  const directory = config.directory ? new DirectoryClient(config.directory, { registry, credentials }) : undefined;
  context = {
    config,
    membership,
    log,
    metrics,
    checker,
    driver,
    transport,
    inbox,
    limiters: { membership: peerBudget(), application: peerBudget() },
    self,
    wallClock: Date.now,
    lookup: directory
      ? async (peerId) => {
          try {
            return (await directory.resolve(config.network, { peerId })).record.addresses[0];
          } catch {
            return undefined;
          }
        }
      : undefined,
  };
  const liveDriver = driver;

  /**
   * A bootstrap contact is a records-only handshake, not a neighbour request: it gets the deadline
   * of ordinary peer calls. A seed that answers slowly (a busy process, hosts starting all at once)
   * is worth the wait; missing it costs a round of backoff, which grows to seconds.
   */
  const contactTimeoutMs = Math.max(config.callTimeoutMs, membership.neighborRequestTimeoutMs);
  /** Under TLS, a DNS seed's IP is checked against the name it was found under. */
  const nameOverride = (serverName?: string) =>
    serverName && !config.plaintext ? { 'grpc.ssl_target_name_override': serverName } : undefined;
  /** A records-only handshake with a DNS seed, on a connection of its own checked against its name. */
  const handshakeNamed = (peerAddress: string, serverName: string, request: HandshakeRequest) => {
    const client = new HostServiceClient(peerAddress, credentials, {
      ...COMMON_GRPC_OPTIONS,
      ...nameOverride(serverName),
    });
    return new Promise<HandshakeResponse>((resolve, reject) =>
      client.handshake(request, new Metadata(), { deadline: Date.now() + contactTimeoutMs }, (error, response) => {
        client.close();
        if (error) reject(error);
        else resolve(response);
      }),
    );
  };

  /**
   * Asks a seed to admit this host as an introducer would: undefined when the seed is a plain
   * host (UNIMPLEMENTED) or refused, so the caller falls back to a handshake. A refusal is logged
   * as the introducer worded it: most often it could not dial this host back.
   */
  const joinThrough = async (peerAddress: string, serverName?: string): Promise<Contacted | undefined> => {
    const client = new IntroducerClient(peerAddress, {
      registry,
      credentials,
      deadlineMs: config.callTimeoutMs + membership.neighborRequestTimeoutMs,
      channelOptions: nameOverride(serverName),
      // Records of another network fail here, and the join with them.
      openRecord: (signed) => checker.open(signed, 'join answer'),
    });
    try {
      const joined = await client.join(liveDriver.node.record as SignedRecord);
      const sample = joined.peers.map((p) => p.signed);
      log.info(
        { introducer: peerAddress, peers: sample.length, leaseId: joined.leaseId || 'none' },
        'joined through an introducer',
      );
      return { signed: joined.introducer.signed, record: joined.introducer.record, sample };
    } catch (error) {
      const code = (error as ServiceError).code;
      if (code !== status.UNIMPLEMENTED) {
        log.warn(
          { introducer: peerAddress, err: (error as Error).message },
          'introducer refused the join; trying a handshake',
        );
      }
      return undefined;
    } finally {
      client.close();
    }
  };

  bootstrapper = new Bootstrapper({
    cache: cacheFile ? () => readCache(cacheFile, log) : undefined,
    seeds: parseSeeds(config.seeds),
    dnsSeeds: config.dnsSeeds,
    dnsResolver: config.dnsResolver || undefined,
    defaultPort: config.grpcPort || 7_600,
    directory: directory
      ? async () => (await directory.listAll(config.network)).peers.map((peer) => peer.signed)
      : undefined,
    contact: async (peerAddress, seed, serverName) => {
      if (seed) {
        const joined = await joinThrough(peerAddress, serverName);
        if (joined) return joined;
      }
      const request: HandshakeRequest = {
        sender: self,
        record: liveDriver.node.record as SignedRecord,
        intent: HandshakeIntent.HANDSHAKE_INTENT_UNSPECIFIED,
      };
      const response = (
        serverName && !config.plaintext
          ? await handshakeNamed(peerAddress, serverName, request)
          : await transport.invoke(peerAddress, 'handshake', request, contactTimeoutMs)
      ) as HandshakeResponse;
      return { signed: response.record!, record: checker.open(response.record, 'handshake answer') };
    },
    open: (signed) => checker.open(signed, 'record'),
    selfId: identity.peerId,
    join: (records) => liveDriver.join(records),
    connected: () => running.activeCount > 0,
    joinWaitMs: 2 * membership.neighborRequestTimeoutMs + 500,
    onIsolated: (isolated) => {
      metrics.isolated.set(isolated ? 1 : 0);
      grpc.setServiceServing(HOST_SERVICE_NAME, !isolated);
    },
    metrics,
    log,
  });

  /** Signs a record with a higher seq (same fields) and adopts it: gossip carries it from now on. */
  const reissueRecord = (): SignedRecord => {
    seq = Math.max(seq + 1, Date.now());
    const fresher = signOwn(recordFields());
    liveDriver.updateRecord(fresher);
    return fresher;
  };

  const lease = directory
    ? new DirectoryLease({
        client: directory,
        ttlSeconds: config.directoryTtlSeconds,
        record: () => liveDriver.node.record as SignedRecord,
        fresherRecord: () => reissueRecord(),
        withdrawn: () => {
          seq = Math.max(seq + 1, Date.now());
          return signOwn({ ...recordFields(), withdrawn: true });
        },
        metrics,
        log,
      })
    : undefined;

  let metricsServer: MetricsServer | undefined;
  try {
    if (config.metrics) metricsServer = await serveMetrics(registry, config.metricsHost, config.metricsPort);
  } catch (error) {
    await grpc.shutdown(0);
    throw error;
  }

  driver.start();
  bootstrapper.start();
  lease?.start();
  log.info(
    {
      peerId: identity.peerId,
      address,
      application: appAddress ?? 'off',
      network: config.network,
      metrics: metricsServer ? `${config.metricsHost}:${metricsServer.port}` : 'off',
      sources: {
        cache: cacheFile ?? 'off',
        seeds: config.seeds.length,
        dnsSeeds: config.dnsSeeds.length,
        directory: config.directory || 'off',
      },
    },
    bootstrapper.hasSources ? 'host serving; bootstrapping' : 'host serving as the first peer (no bootstrap sources)',
  );

  let stopping: Promise<void> | undefined;
  return {
    peerId: identity.peerId,
    address,
    grpcPort: grpc.port,
    appAddress,
    metricsPort: metricsServer?.port,
    node,
    metrics,
    member: {
      self,
      record: () => liveDriver.node.record as SignedRecord,
      open: (blob, field) => checker.open(blob, field),
      introduce: (newcomer) => {
        const { sample, told } = liveDriver.introduce(newcomer);
        return { sample: sample as SignedRecord[], told };
      },
      call: (peerAddress, method, request, deadlineMs) => transport.invoke(peerAddress, method, request, deadlineMs),
      deliverUpdates: (from, updates) => {
        updates.forEach((u, i) => {
          if (u.record) checker.open(u.record, `updates[${i}].record`);
        });
        liveDriver.deliver({
          type: 'gossip',
          from: from.peerId,
          fromAddress: from.address,
          updates: fromWireUpdates(updates),
        });
      },
    },
    reissueRecord,
    stop: () => (stopping ??= stopHost()),
  };

  async function stopHost(): Promise<void> {
    const stopStarted = performance.now();
    log.info('host stopping');
    await bootstrapper?.stop();
    await lease?.stop();
    if (cacheWriter) {
      cacheWriter.schedule(cacheSnapshot);
      await cacheWriter.flush();
      await cacheWriter.close();
    }
    inbox.endAll(new UnavailableError('the host is stopping; receive again from another host or after it restarts'));
    liveDriver.leave();
    await new Promise((resolve) => setTimeout(resolve, LEAVE_FLUSH_MS));
    // Peers keep their Push streams open as long as they like: answer them, or the drain below
    // would wait out the whole grace period for streams that have nothing left in flight.
    pushStreams.endAll();
    // The grace period counts from the signal: what the steps above took comes out of it.
    const graceLeftMs = Math.max(0, config.shutdownGraceMs - (performance.now() - stopStarted));
    await Promise.all([grpc.shutdown(graceLeftMs), application?.shutdown(graceLeftMs)]);
    transport.close();
    directory?.close();
    await metricsServer?.close();
    log.info('host stopped');
  }
}

async function keyFileIdentity(config: HostConfig, log: Logger): Promise<Identity> {
  const { identity, created } = await loadOrCreateIdentity(config.keyFile);
  if (config.keyFile === '') log.warn('no keyFile: a new identity for this run only');
  else if (created) log.info({ keyFile: config.keyFile }, 'made a new identity and saved it');
  return identity;
}

/** The bind address as peers dial it (the schema demands advertiseAddress for wildcards). */
function hostForAddress(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function issuedAt(checker: RecordChecker, blob: SignedRecord): number {
  return checker.open(blob, 'record').issuedAtMs;
}

async function readCache(file: string, log: Logger): Promise<readonly CachedPeer[]> {
  const { entries, problem } = await loadPeerCache(file);
  if (problem) log.warn({ file, problem }, 'peer cache ignored');
  return entries;
}
