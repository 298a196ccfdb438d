/**
 * The roles as real `grapevine` processes for fault tests, on fixed ports so that a replica killed
 * with SIGKILL can be started again where its clients look for it.
 */
import { createServer } from 'node:net';
import { scrape, seriesValues } from '../../support/metrics-text';
import { runGrapevine, type GrapevineProcess } from '../../support/processes';

export const FAULT_TOKEN = 'fault-test-introducer-token';
/**
 * Fault tests speak plaintext gRPC, as a development setup does; TLS has suites of its own. Set
 * through the environment, so it reaches every role and in-namespace process alike.
 */
export const PLAINTEXT_ENV: NodeJS.ProcessEnv = Object.freeze({ GRAPEVINE_PLAINTEXT: 'true' });
/** High enough that the per-source bound never throttles a test's simulated hosts. */
export const REGISTRATIONS_PER_SOURCE_PER_SECOND = 1_000_000;

export interface RoleProcess {
  readonly process: GrapevineProcess;
  /** host:port of the gRPC API. */
  readonly address: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
  /** The peer id (hosts and introducers). */
  readonly peerId: string;
}

/** A process killed by a signal has no exit code either: ask for both. */
export function isRunning(p: GrapevineProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** SIGKILL, as a crash; resolves once the process is gone. */
export async function kill9(p: GrapevineProcess): Promise<void> {
  if (!isRunning(p)) return;
  p.child.kill('SIGKILL');
  await p.exited();
}

/** SIGTERM; resolves with the exit code (or signal) once the process is gone. */
export async function terminate(p: GrapevineProcess): Promise<number | string> {
  if (isRunning(p)) p.child.kill('SIGTERM');
  return p.exited();
}

/** The first JSON log line whose msg is `msg`, parsed. */
export function logLine(p: GrapevineProcess, msg: string): Record<string, unknown> | undefined {
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{') || !line.includes(`"msg":"${msg}"`)) continue;
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not a whole log line.
    }
  }
  return undefined;
}

/** Lines that are not JSON logs, and log lines at error (50) or above whose msg is not in `expected`. */
export function unexpectedLogs(p: GrapevineProcess, expected: readonly RegExp[] = []): string[] {
  return p
    .output()
    .split('\n')
    .filter((line) => {
      if (!line.startsWith('{')) return line.trim() !== '' && !line.startsWith('{"peerId"');
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        return (entry.level ?? 0) >= 50 && !expected.some((pattern) => pattern.test(entry.msg ?? ''));
      } catch {
        return true;
      }
    });
}

/** Below Linux's default ephemeral range (32768-60999); see fixedPort. */
const FIXED_PORT_LOW = 20_000;
const FIXED_PORT_HIGH = 32_000;

/**
 * A free port for a server that will be killed and started again in place. Not one from the
 * ephemeral range, as freePort gives: while the server is down its clients keep dialling the port,
 * and a client socket on loopback can be handed that very port as its own and connect to itself
 * (TCP simultaneous open), which then holds the port against the restarted server.
 */
export async function fixedPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = FIXED_PORT_LOW + Math.floor(Math.random() * (FIXED_PORT_HIGH - FIXED_PORT_LOW));
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port from ${FIXED_PORT_LOW} to ${FIXED_PORT_HIGH}`);
}

export interface DirectoryProcessOptions {
  readonly redisUrl: string;
  /** Default: a free port outside the ephemeral range (fixedPort). Pass the old one to restart a replica in place. */
  readonly grpcPort?: number;
  readonly extraArgs?: readonly string[];
}

export async function startDirectoryProcess(options: DirectoryProcessOptions): Promise<RoleProcess> {
  const grpcPort = options.grpcPort ?? (await fixedPort());
  const process = runGrapevine(
    [
      'directory',
      '--grpc-port',
      String(grpcPort),
      '--metrics-port',
      '0',
      '--redis-url',
      options.redisUrl,
      '--introducer-token',
      FAULT_TOKEN,
      // Every simulated host of a test calls from 127.0.0.1, where a real fleet has an address each.
      '--registrations-per-source-per-second',
      String(REGISTRATIONS_PER_SOURCE_PER_SECOND),
      '--log-level',
      'info',
      ...(options.extraArgs ?? []),
    ],
    PLAINTEXT_ENV,
  );
  await process.waitFor(/"msg":"directory serving"/, 30_000);
  const serving = logLine(process, 'directory serving') as { metrics: string };
  return {
    process,
    address: `127.0.0.1:${grpcPort}`,
    grpcPort,
    metricsPort: Number(serving.metrics.split(':').pop()),
    peerId: '',
  };
}

export interface IntroducerProcessOptions {
  /** What the introducer's --directory gets: host:port, or a gRPC target naming several replicas. */
  readonly directory: string;
  readonly grpcPort?: number;
  readonly extraArgs?: readonly string[];
}

export async function startIntroducerProcess(options: IntroducerProcessOptions): Promise<RoleProcess> {
  const grpcPort = options.grpcPort ?? (await fixedPort());
  const process = runGrapevine(
    [
      'introducer',
      '--grpc-port',
      String(grpcPort),
      '--metrics-port',
      '0',
      '--profile',
      'local',
      '--directory',
      options.directory,
      '--introducer-token',
      FAULT_TOKEN,
      '--log-level',
      'info',
      ...(options.extraArgs ?? []),
    ],
    PLAINTEXT_ENV,
  );
  const line = await process.waitFor(/^\{"peerId"/, 30_000);
  const { peerId, address, metricsPort } = JSON.parse(line) as { peerId: string; address: string; metricsPort: number };
  return { process, address, grpcPort, metricsPort, peerId };
}

/** The sum of every series of a metric. */
export async function metricSum(port: number, name: string): Promise<number> {
  return seriesValues(await scrape(port), name).reduce((a, b) => a + b, 0);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
