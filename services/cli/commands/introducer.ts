import { Command } from 'commander';
import { createLogger } from '../../common/logging';
import { introducerConfigSchema } from '../../introducer/config';
import { startIntroducer } from '../../introducer/server';
import { addConfigOptions, readConfig } from '../config-options';
import { stopOnSignals } from '../signals';

export function introducerCommand(): Command {
  const command = new Command('introducer').description(
    'run an Introducer: admits newcomers (dial-back-checked Join), gossips, and keeps the directory true',
  );
  addConfigOptions(command, introducerConfigSchema);
  return command.action(async (options: Record<string, unknown>) => {
    const config = readConfig(introducerConfigSchema, options);
    const log = createLogger({ level: config.logLevel, role: 'introducer' });
    const introducer = await startIntroducer(config, { log });
    process.stdout.write(
      `${JSON.stringify({ peerId: introducer.peerId, address: introducer.address, appAddress: introducer.appAddress ?? null, metricsPort: introducer.metricsPort ?? null })}\n`,
    );
    stopOnSignals(() => introducer.stop(), log, config.shutdownGraceMs);
  });
}
