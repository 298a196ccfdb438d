/** Starts a TypeScript entry point as a child process and waits for a line that says it is up. */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { chartNodeFlags, imageEnv } from '../../support/image-env';

const root = join(__dirname, '..', '..', '..');
/** The `grapevine` binary's entry point, as the benches name it. */
const CLI = 'services/cli/main.ts';
/** Extra node flags for the servers under test, e.g. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p". */
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
/** The image's runtime environment (deploy/Dockerfile: its allocator), read once per process. */
const runtimeEnv = imageEnv();

export interface Child {
  readonly process: ChildProcess;
  readonly line: string;
  stop(): Promise<void>;
}

export function startChild(entry: string, args: string[], ready: RegExp, timeoutMs = 20_000): Promise<Child> {
  // A role of the binary gets the heap limit the chart gives it; other entries are the bench's own.
  const deployed = entry === CLI ? chartNodeFlags(args[0] ?? '') : [];
  const child = spawn(process.execPath, [...deployed, ...nodeFlags, '--import', 'tsx', join(root, entry), ...args], {
    cwd: root,
    // Benchmarks measure the protocol and gRPC, not TLS: the servers they start speak plaintext.
    // Otherwise they run as the image and the chart run them (allocator, heap limit).
    env: { ...process.env, ...runtimeEnv, GRAPEVINE_PLAINTEXT: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not start:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => ready.test(candidate));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      child.stderr!.resume();
      resolve({
        process: child,
        line,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}:\n${output}`));
    });
  });
}

/** The process's CPU seconds so far (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}
