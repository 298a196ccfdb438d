import { Command } from 'commander';
import { createLogger } from '../../common/logging';
import { directoryConfigSchema } from '../../directory/config';
import { startDirectory } from '../../directory/server';
import { addConfigOptions, readConfig } from '../config-options';
import { stopOnSignals } from '../signals';

export function directoryCommand(): Command {
  const command = new Command('directory').description(
    'run the Directory: the database of who is where, under leases (Redis, or memory for development)',
  );
  addConfigOptions(command, directoryConfigSchema);
  return command.action(async (options: Record<string, unknown>) => {
    const config = readConfig(directoryConfigSchema, options, { envAliases: { redisUrl: 'REDIS_URL' } });
    const log = createLogger({ level: config.logLevel, role: 'directory' });
    if (!config.redisUrl) log.warn('no redisUrl given: peers are kept in process memory and lost on restart');
    const directory = await startDirectory(config, { log });
    stopOnSignals(() => directory.stop(), log, config.shutdownGraceMs);
  });
}
