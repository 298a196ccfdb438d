/**
 * Runs the real `grapevine` binary (from source through tsx) as a child process. Node loads tsx
 * itself (`--import tsx`) rather than through the tsx launcher, so the child is the grapevine
 * process: a SIGKILL kills the role, not a wrapper that would leave it running.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const main = join(root, 'services', 'cli', 'main.ts');
/** The command line that runs `grapevine` from source, for spawning it elsewhere (a namespace). */
export const GRAPEVINE_COMMAND: readonly string[] = [process.execPath, '--import', 'tsx', main];

export interface GrapevineProcess {
  readonly child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first output line matching, or rejects after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name) once its output has all been read. */
  exited(): Promise<number | string>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGKILL')));

export function runGrapevine(args: string[], env: NodeJS.ProcessEnv = {}): GrapevineProcess {
  const child = spawn(GRAPEVINE_COMMAND[0], [...GRAPEVINE_COMMAND.slice(1), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    listeners.forEach((listener) => listener());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  // 'close', not 'exit': it comes once stdout and stderr are drained too, so output read after
  // exited() resolves is complete, and waitFor does not give up on a line still in the pipe.
  let closed = false;
  const exit = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      closed = true;
      children.delete(child);
      listeners.forEach((listener) => listener());
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    output: () => text,
    exited: () => exit,
    waitFor: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = text.split('\n').find((candidate) => pattern.test(candidate));
          if (line !== undefined) {
            cleanup();
            resolve(line);
          } else if (closed) {
            cleanup();
            reject(new Error(`process exited before printing ${pattern}:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
  };
}

/** Runs a short command to completion. */
export function runGrapevineSync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(GRAPEVINE_COMMAND[0], [...GRAPEVINE_COMMAND.slice(1), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
