/** JSON-lines logs (pino). One root logger per process; modules take a child with their name. */
import pino, { Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(options: { level: LogLevel; role: string }): Logger {
  return pino({ level: options.level, base: { role: options.role, pid: process.pid } });
}

/** For tests and tools that must stay quiet. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
