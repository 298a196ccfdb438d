/**
 * A real redis-server for tests: its own free loopback port, its own temp dir, nothing saved to
 * disk. Tests never touch a Redis on 6379; each suite starts the servers it needs and stops them.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';

export const REDIS_SERVER_BINARY = '/usr/bin/redis-server';
const HOST = '127.0.0.1';
/** How long a start may take before the helper gives up, in ms. */
const DEFAULT_START_TIMEOUT_MS = 10_000;
/** What redis-server prints once it serves clients. */
const READY_LINE = 'Ready to accept connections';
/** Output kept to explain a failed start. */
const OUTPUT_TAIL_CHARS = 4_000;

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** The server's process id while it runs (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** Shuts the server down cleanly and removes its dir. Safe to call twice. */
  stop(): Promise<void>;
  /** Ends the server at once with SIGKILL, as a crash would; the dir stays for restart(). */
  kill(): Promise<void>;
  /** Starts the server again on the same port (stopping it first if it runs), with no data: nothing is saved. */
  restart(): Promise<void>;
}

export interface RedisServerOptions {
  readonly binary?: string;
  readonly startTimeoutMs?: number;
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  readonly extraArgs?: readonly string[];
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A test that forgets stop() must not leave servers behind when its process ends. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  installExitHook();
  const binary = options.binary ?? REDIS_SERVER_BINARY;
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-redis-'));
  let child: ChildProcess | undefined;

  const args = (): string[] => [
    '--save',
    '',
    '--appendonly',
    'no',
    '--bind',
    HOST,
    '--port',
    String(port),
    '--dir',
    dir,
    ...(options.extraArgs ?? []),
  ];

  async function start(): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const server = spawn(binary, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(server);
    server.once('exit', () => running.delete(server));
    child = server;
    await waitUntilReady(server, startTimeoutMs, port);
    await ping(port, startTimeoutMs);
  }

  async function end(signal: NodeJS.Signals): Promise<void> {
    const server = child;
    child = undefined;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill(signal);
    await exited;
  }

  await start();
  return {
    host: HOST,
    port,
    url: `redis://${HOST}:${port}`,
    get pid() {
      return child?.pid;
    },
    async stop() {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await end('SIGKILL');
    },
    async restart() {
      await end('SIGTERM');
      await start();
    },
  };
}

/** Resolves once the server logs that it serves clients; rejects with its output when it exits first. */
export function waitUntilReady(child: ChildProcess, timeoutMs: number, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
      if (output.includes(READY_LINE)) finish();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      finish(
        new Error(
          `redis-server on port ${port} exited (code ${code}, signal ${signal}) before it was ready:\n${output}`,
        ),
      );
    const onError = (error: Error): void => finish(error);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`redis-server on port ${port} was not ready within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    function finish(error?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining output so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** One PING over a raw socket, so the check needs no client library and leaves nothing open. */
function ping(port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no PONG from redis-server on port ${port}`)));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) {
        socket.end();
        if (reply.startsWith('+PONG')) resolve();
        else reject(new Error(`redis-server on port ${port} answered PING with ${JSON.stringify(reply)}`));
      }
    });
    socket.once('error', reject);
  });
}
