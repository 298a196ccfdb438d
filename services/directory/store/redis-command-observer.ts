/**
 * Latency and failures of every command the directory sends to Redis, measured in one place: the
 * client's sendCommand, which direct calls, pipelines (auto-pipelining included) and Lua scripts
 * all go through. A script is named by its SHA1 (or source, when ioredis sends it as EVAL), so the
 * metrics tell a register from a sweep without a label per call site.
 */
import type { Command } from 'ioredis';
import type { DirectoryRedis } from './redis-connection';
import { SCRIPT_BY_SHA_OR_SOURCE, SCRIPT_METRIC_NAMES, ScriptMetricName } from './redis-scripts';

/** The plain commands the store sends; anything else (connection set-up, INFO) is "other". */
const PLAIN_COMMANDS = ['get', 'xrange', 'xread', 'sadd', 'smembers', 'zcard', 'ping'] as const;

export type RedisCommandName = ScriptMetricName | (typeof PLAIN_COMMANDS)[number] | 'script_other' | 'other';

/** Every value the `command` label takes: a small fixed set. */
export const REDIS_COMMAND_NAMES: readonly RedisCommandName[] = [
  ...SCRIPT_METRIC_NAMES,
  ...PLAIN_COMMANDS,
  'script_other',
  'other',
];

export interface RedisCommandObserver {
  /** A command that answered (`failed` false) or failed, `seconds` after it was sent. */
  observe(command: RedisCommandName, seconds: number, failed: boolean): void;
}

const PLAIN: ReadonlySet<string> = new Set(PLAIN_COMMANDS);

export function redisCommandName(command: Pick<Command, 'name' | 'args'>): RedisCommandName {
  const name = command.name.toLowerCase();
  if (PLAIN.has(name)) return name as RedisCommandName;
  if (name === 'evalsha' || name === 'eval') {
    const script = command.args[0];
    return SCRIPT_BY_SHA_OR_SOURCE.get(typeof script === 'string' ? script : String(script)) ?? 'script_other';
  }
  return 'other';
}

/**
 * ioredis names itself with CLIENT SETINFO on every connect and shrugs off the refusal of a Redis
 * older than 7.2: such a refusal is no failure of the directory's.
 */
function isBestEffort(command: Pick<Command, 'name' | 'args'>): boolean {
  return command.name.toLowerCase() === 'client' && String(command.args[0]).toUpperCase() === 'SETINFO';
}

type SendCommand = (command: Command, ...rest: unknown[]) => unknown;

/**
 * Observes every command `redis` sends from now on; returns the function that stops it.
 * `ignoreFailures` says when a failure is expected and not worth counting, e.g. the blocked read
 * of a connection being closed on purpose.
 */
export function observeRedisCommands(
  redis: DirectoryRedis,
  observer: RedisCommandObserver,
  ignoreFailures: () => boolean = () => false,
): () => void {
  const target = redis as unknown as { sendCommand: SendCommand };
  const send = target.sendCommand;
  target.sendCommand = function observedSendCommand(
    this: DirectoryRedis,
    command: Command,
    ...rest: unknown[]
  ): unknown {
    const name = redisCommandName(command);
    const bestEffort = isBestEffort(command);
    const started = performance.now();
    command.promise.then(
      () => observer.observe(name, (performance.now() - started) / 1_000, false),
      () => observer.observe(name, (performance.now() - started) / 1_000, !bestEffort && !ignoreFailures()),
    );
    return send.call(this, command, ...rest);
  };
  return () => {
    if (target.sendCommand !== send) delete (target as Partial<typeof target>).sendCommand;
  };
}
