/**
 * The TLS flags of the terminal commands (`peers …`, `host peers …`): TLS by default, checked
 * against --tls-ca-file or the system's roots; --tls-cert-file and --tls-key-file for servers that
 * ask for mutual TLS; --plaintext to talk to a development server (`grapevine dev`). Each flag
 * also reads its GRAPEVINE_* environment variable.
 */
import { ChannelCredentials } from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { ConfigError, envName } from '../common/config';
import { channelCredentials, checkTlsFields, tlsFields } from '../common/tls';

export interface TlsOptions {
  plaintext?: boolean | string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

export function addTlsOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--plaintext', 'talk without TLS (to a development server such as grapevine dev)').env(
        envName('plaintext'),
      ),
    )
    .addOption(
      new Option('--tls-ca-file <file>', "PEM CA the server's certificate must chain to").env(envName('tlsCaFile')),
    )
    .addOption(
      new Option('--tls-cert-file <file>', 'PEM client certificate, for servers that require mutual TLS').env(
        envName('tlsCertFile'),
      ),
    )
    .addOption(new Option('--tls-key-file <file>', 'PEM key of --tls-cert-file').env(envName('tlsKeyFile')));
}

const clientTlsSchema = z.object(tlsFields).superRefine((config, context) => checkTlsFields(config, context, 'client'));

/** The credentials the flags ask for; a contradiction stops the command with exit code 2. */
export function credentialsFrom(options: TlsOptions): ChannelCredentials {
  const result = clientTlsSchema.safeParse({
    // true for the bare flag; the text of `--plaintext false` or of the variable otherwise.
    plaintext: options.plaintext === '' ? undefined : options.plaintext,
    tlsCaFile: options.tlsCaFile,
    tlsCertFile: options.tlsCertFile,
    tlsKeyFile: options.tlsKeyFile,
  });
  if (!result.success) {
    throw new ConfigError(
      `invalid TLS options:\n${result.error.issues.map((issue) => `  ${String(issue.path[0])}: ${issue.message}`).join('\n')}`,
    );
  }
  return channelCredentials(result.data);
}
