#!/usr/bin/env node
/** The one `grapevine` binary: a subcommand per role, plus terminal tools. */
import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json';
import { ConfigError } from '../common/config';
import { devCommand } from './commands/dev';
import { directoryCommand } from './commands/directory';
import { hostCommand } from './commands/host';
import { introducerCommand } from './commands/introducer';
import { keygenCommand } from './commands/keygen';
import { peersCommand } from './commands/peers';
import { simCommand } from './commands/sim';

export function buildProgram(): Command {
  // `host` takes its role's flags before its subcommands only; that needs positional options from
  // the root down, or the root hands `host peers --grpc-port 1` to the role as a flag.
  return new Command('grapevine')
    .description('peer-to-peer discovery: a directory, hosts and introducers over gRPC')
    .version(packageJson.version)
    .showHelpAfterError()
    .enablePositionalOptions()
    .addCommand(devCommand())
    .addCommand(directoryCommand())
    .addCommand(hostCommand())
    .addCommand(introducerCommand())
    .addCommand(keygenCommand())
    .addCommand(peersCommand())
    .addCommand(simCommand());
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      if (error instanceof CommanderError) process.exit(error.exitCode);
      // A person reads this: the message, not a stack (config errors are already worded for them).
      const message =
        error instanceof ConfigError ? error.message : `error: ${(error as Error).message ?? String(error)}`;
      process.stderr.write(`${message}\n`);
      process.exit(error instanceof ConfigError ? 2 : 1);
    });
}
