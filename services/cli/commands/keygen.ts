import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { generateIdentity, identityToPem } from '../../common/identity';

export function keygenCommand(): Command {
  return new Command('keygen')
    .description('make a new Ed25519 peer identity: writes the private key (mode 0600) and prints the peer id')
    .requiredOption('--out <file>', 'where to write the PEM private key')
    .option('--force', 'overwrite an existing file', false)
    .action((options: { out: string; force: boolean }) => {
      const identity = generateIdentity();
      try {
        writeFileSync(options.out, identityToPem(identity), { mode: 0o600, flag: options.force ? 'w' : 'wx' });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(
          code === 'EEXIST'
            ? `${options.out} exists; pass --force to overwrite it (the old identity is then lost)`
            : `cannot write ${options.out}: ${(error as Error).message}`,
        );
      }
      process.stdout.write(`${identity.peerId}\n`);
    });
}
