/** Hosts for tests: in-process ones, real `grapevine host` processes, and a raw gRPC client. */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { createLogger } from '../../services/common/logging';
import { Registry } from '../../services/common/metrics';
import type { Identity } from '../../services/common/identity';
import { HostServiceClient, PeersResponse, PeerView } from '../../services/gen/grapevine/v1/host';
import { hostConfig } from '../../services/host/config';
import { startHost, type HostComponents, type RunningHost } from '../../services/host/server';
import { runGrapevine, type GrapevineProcess } from './processes';

type HostOverrides = Parameters<typeof hostConfig>[0];

/**
 * Starts a host in this process on free loopback ports (peer and application), metrics off, the local profile;
 * `components` may give it membership settings or a registry the test reads.
 */
export function startTestHost(
  overrides: HostOverrides = {},
  identity?: Identity,
  components: Partial<Pick<HostComponents, 'membership' | 'registry'>> = {},
): Promise<RunningHost> {
  return startHost(
    hostConfig({
      grpcPort: 0,
      appPort: 0,
      metrics: false,
      profile: 'local',
      logLevel: 'silent',
      plaintext: true,
      ...overrides,
    }),
    {
      log: createLogger({ level: 'silent', role: 'test' }),
      registry: new Registry(),
      identity,
      ...components,
    },
  );
}

/** A first host and `count - 1` more seeded with it. */
export async function startTestHosts(count: number, overrides: HostOverrides = {}): Promise<RunningHost[]> {
  const first = await startTestHost(overrides);
  const rest = await Promise.all(
    Array.from({ length: count - 1 }, () => startTestHost({ ...overrides, seeds: [first.address] })),
  );
  return [first, ...rest];
}

export function hostClient(address: string): HostServiceClient {
  return new HostServiceClient(address, ChannelCredentials.createInsecure());
}

/** A raw client of a host's application listener (Send, Flood, Receive, Peers). */
export function appClient(host: { readonly appAddress?: string }): HostServiceClient {
  if (!host.appAddress) throw new Error('this host has no application listener');
  return hostClient(host.appAddress);
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** One unary call with a deadline, as a promise. */
export function call<Req, Res>(client: HostServiceClient, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + 5_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** The gRPC error a call ends with (fails the test when it succeeds). */
export async function callError<Req, Res>(
  client: HostServiceClient,
  method: Unary<Req, Res>,
  request: Req,
): Promise<ServiceError> {
  try {
    await call(client, method, request);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded but an error was expected');
}

export function activePeers(response: PeersResponse): string[] {
  return response.peers.filter((p) => p.view === PeerView.PEER_VIEW_ACTIVE).map((p) => p.peerId);
}

/** Polls `check` until it holds, or fails naming `what`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface HostProcess {
  readonly process: GrapevineProcess;
  readonly peerId: string;
  /** The peer port. */
  readonly address: string;
  /** A client of the peer port (peer calls). */
  readonly client: HostServiceClient;
  readonly appAddress: string;
  /** A client of the application listener (Send, Flood, Receive, Peers). */
  readonly app: HostServiceClient;
}

/** Runs a real `grapevine host` process (local profile, free ports) and waits until it serves. */
export async function startHostProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<HostProcess> {
  const process = runGrapevine(
    [
      'host',
      '--grpc-port',
      '0',
      '--app-port',
      '0',
      '--metrics-port',
      '0',
      '--profile',
      'local',
      '--log-level',
      'info',
      ...args,
    ],
    env,
  );
  const line = await process.waitFor(/^\{"peerId"/, 30_000);
  const { peerId, address, application } = JSON.parse(line) as { peerId: string; address: string; application: string };
  return {
    process,
    peerId,
    address,
    client: hostClient(address),
    appAddress: application,
    app: hostClient(application),
  };
}
