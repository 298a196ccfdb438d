/**
 * `grapevine dev`: the whole system in one process for a first look, the way `consul agent -dev`
 * works. The in-process store unless --redis or REDIS_URL names a Redis.
 */
import { Command, Option } from 'commander';
import { createLogger, LogLevel } from '../../common/logging';
import { directoryConfigSchema } from '../../directory/config';
import { startDirectory } from '../../directory/server';
import { stopOnSignals } from '../signals';

export function devCommand(): Command {
  return new Command('dev')
    .description('run every role in one process for development (plaintext gRPC, memory store unless --redis)')
    .addOption(new Option('--redis <url>', 'use this Redis instead of the in-process store').env('REDIS_URL'))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--directory-port <port>', 'Directory gRPC port', '7400')
    .option('--metrics-port <port>', 'Directory /metrics port', '9400')
    .option('--log-level <level>', 'log level', 'warn')
    .action(
      async (options: {
        redis?: string;
        host: string;
        directoryPort: string;
        metricsPort: string;
        logLevel: LogLevel;
      }) => {
        const log = createLogger({ level: options.logLevel, role: 'dev' });
        const config = Object.freeze(
          directoryConfigSchema.parse({
            host: options.host,
            grpcPort: options.directoryPort,
            metricsHost: options.host,
            metricsPort: options.metricsPort,
            redisUrl: options.redis ?? '',
            logLevel: options.logLevel,
            shutdownGraceMs: 2_000,
          }),
        );
        const directory = await startDirectory(config, { log });
        const address = `${options.host}:${directory.grpcPort}`;
        process.stdout.write(
          [
            'Grapevine dev is running (plaintext gRPC: for development only).',
            '',
            `  directory  grpc ${address}   store: ${directory.storeKind === 'redis' ? 'redis' : 'in-process memory (lost on exit; --redis URL to keep it)'}`,
            `  metrics    http://${options.host}:${directory.metricsPort}/metrics`,
            '',
            'Try, in another terminal:',
            '  npx grapevine keygen --out /tmp/web.key',
            `  npx grapevine peers announce --directory ${address} --key /tmp/web.key --name web --address 127.0.0.1:8080 --label tier=edge`,
            `  npx grapevine peers list --directory ${address}`,
            `  npx grapevine peers resolve web --directory ${address}`,
            `  npx grapevine peers watch --directory ${address}`,
            '',
            'Ctrl-C stops everything.',
            '',
          ].join('\n'),
        );
        stopOnSignals(() => directory.stop(), log, config.shutdownGraceMs);
      },
    );
}
