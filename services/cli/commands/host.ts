import { Command } from 'commander';
import { createLogger } from '../../common/logging';
import { hostConfigSchema } from '../../host/config';
import { startHost } from '../../host/server';
import { addConfigOptions, readConfig } from '../config-options';
import { stopOnSignals } from '../signals';
import { hostClientCommands } from './host-client';

/** `grapevine host` runs the role; `grapevine host peers|send|flood|receive` talk to a running one. */
export function hostCommand(): Command {
  const command = new Command('host').description(
    'run a Host: the port-listening peer that gossips membership and carries application messages',
  );
  addConfigOptions(command, hostConfigSchema);
  // The role's flags apply before a subcommand only, so `host peers --network x` is the
  // subcommand's business and the role's flags never swallow a subcommand's.
  command.enablePositionalOptions();
  for (const sub of hostClientCommands()) command.addCommand(sub);
  return command.action(async (options: Record<string, unknown>) => {
    const config = readConfig(hostConfigSchema, options);
    const log = createLogger({ level: config.logLevel, role: 'host' });
    const host = await startHost(config, { log });
    process.stdout.write(
      `${JSON.stringify({
        peerId: host.peerId,
        address: host.address,
        application: host.appAddress,
        metricsPort: host.metricsPort ?? null,
      })}\n`,
    );
    stopOnSignals(() => host.stop(), log, config.shutdownGraceMs);
  });
}
