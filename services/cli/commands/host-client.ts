/** `grapevine host peers|send|flood|receive`: a running host from a terminal. */
import { ServiceError, status } from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { HostClient, HostPeer, ReceivedMessage } from '../../client/host-client';
import { DEFAULT_HOST_APP_PORT } from '../../host/config';
import { formatTable } from '../output';
import { addTlsOptions, credentialsFrom, type TlsOptions } from '../tls-options';

/** A host's application listener, where these calls go (its peer port refuses them). */
const DEFAULT_HOST_ADDRESS = `127.0.0.1:${DEFAULT_HOST_APP_PORT}`;
/** Highest --ttl the terminal accepts; the host refuses anything above its own maxFloodTtlHops. */
const MAX_TTL_HOPS = 255;

interface CommonOptions extends TlsOptions {
  hostAddress: string;
  appToken?: string;
  json: boolean;
}

function withCommon(command: Command): Command {
  return addTlsOptions(command)
    .addOption(
      new Option('--host-address <host:port>', "the running host's application address (its appHost:appPort)")
        .default(DEFAULT_HOST_ADDRESS)
        .env('GRAPEVINE_HOST_ADDRESS'),
    )
    .addOption(
      new Option('--app-token <token>', "the host's appToken, when it requires one").env('GRAPEVINE_APP_TOKEN'),
    )
    .option('--json', 'print JSON instead of text', false);
}

/** A parser for a whole-number flag within [min, max]; commander reports the message. */
function wholeNumber(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** A failed call as a person reads it: the host's address, the status name and the host's words. */
function callFailed(address: string, error: unknown): Error {
  const failed = error as Partial<ServiceError>;
  if (typeof failed.code !== 'number') return error as Error;
  return new Error(`host ${address}: ${status[failed.code] ?? failed.code}: ${failed.details || failed.message}`);
}

/** Runs `use` with a client for the host, closing it after, and words any gRPC error for people. */
async function withClient<T>(options: CommonOptions, use: (client: HostClient) => Promise<T>): Promise<T> {
  const address = options.hostAddress;
  const client = new HostClient(address, { credentials: credentialsFrom(options), appToken: options.appToken });
  try {
    return await use(client);
  } catch (error) {
    throw callFailed(address, error);
  } finally {
    client.close();
  }
}

function describePeer(peer: HostPeer): Record<string, unknown> {
  return {
    peerId: peer.peerId,
    address: peer.address,
    view: peer.view,
    suspected: peer.suspected,
    incarnation: peer.incarnation,
    record: peer.record && {
      network: peer.record.network,
      name: peer.record.name,
      addresses: peer.record.addresses,
      labels: peer.record.labels,
      seq: peer.record.seq,
      issuedAtMs: peer.record.issuedAtMs,
    },
  };
}

/** The payload on one line: line breaks are shown escaped so each message stays one line. */
function payloadText(message: ReceivedMessage): string {
  return Buffer.from(message.payload).toString('utf8').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

function peersCommand(): Command {
  return withCommon(new Command('peers'))
    .description("list the host's active and passive views")
    .action(async (options: CommonOptions) => {
      const peers = await withClient(options, (client) => client.peers());
      if (options.json) {
        process.stdout.write(
          `${JSON.stringify({ peerId: peers.peerId, address: peers.address, peers: peers.peers.map(describePeer) })}\n`,
        );
        return;
      }
      const rows = peers.peers.map((peer) => [
        peer.peerId,
        peer.address || '-',
        peer.view,
        peer.suspected ? 'yes' : 'no',
        String(peer.incarnation),
      ]);
      const active = peers.peers.filter((peer) => peer.view === 'active').length;
      process.stdout.write(
        [
          formatTable(['PEER ID', 'ADDRESS', 'VIEW', 'SUSPECTED', 'INCARNATION'], rows),
          `${active} active and ${peers.peers.length - active} passive peers of ${peers.peerId} at ${peers.address}`,
          '',
        ].join('\n'),
      );
    });
}

function sendCommand(): Command {
  return withCommon(new Command('send'))
    .description('deliver a message to one peer through the host')
    .argument('<peerId>', 'the peer the message is for')
    .argument('<message>', 'the payload, sent as UTF-8')
    .option('--message-id <id>', 'message id (default: the host picks one)', '')
    .action(async (peerId: string, message: string, options: CommonOptions & { messageId: string }) => {
      const messageId = await withClient(options, (client) =>
        client.send(peerId, Buffer.from(message, 'utf8'), options.messageId),
      );
      process.stdout.write(options.json ? `${JSON.stringify({ messageId })}\n` : `${messageId}\n`);
    });
}

function floodCommand(): Command {
  return withCommon(new Command('flood'))
    .description('spread a message to every peer of the network')
    .argument('<message>', 'the payload, sent as UTF-8')
    .option('--ttl <hops>', "hops the flood may travel (default: the host's)", wholeNumber(1, MAX_TTL_HOPS))
    .option('--message-id <id>', 'message id (default: the host picks one)', '')
    .action(async (message: string, options: CommonOptions & { ttl?: number; messageId: string }) => {
      const messageId = await withClient(options, (client) =>
        client.flood(Buffer.from(message, 'utf8'), { ttl: options.ttl, messageId: options.messageId }),
      );
      process.stdout.write(options.json ? `${JSON.stringify({ messageId })}\n` : `${messageId}\n`);
    });
}

function receiveCommand(): Command {
  return withCommon(new Command('receive'))
    .description('print the messages that reach the host, one a line, until --count or Ctrl-C')
    .option('--count <n>', 'exit after this many messages', wholeNumber(1, Number.MAX_SAFE_INTEGER))
    .action(async (options: CommonOptions & { count?: number }) => {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.once('SIGTERM', () => abort.abort());
      await withClient(options, async (client) => {
        let seen = 0;
        for await (const message of client.receive({ signal: abort.signal })) {
          if (options.json) {
            process.stdout.write(
              `${JSON.stringify({
                kind: message.kind,
                messageId: message.messageId,
                fromPeerId: message.fromPeerId,
                hops: message.hops,
                receivedAtMs: message.receivedAtMs,
                payload: Buffer.from(message.payload).toString('utf8'),
              })}\n`,
            );
          } else {
            process.stdout.write(
              `${message.kind.padEnd(6)}  ${message.fromPeerId}  hops=${message.hops}  ${payloadText(message)}\n`,
            );
          }
          if (options.count !== undefined && ++seen >= options.count) break;
        }
      });
    });
}

/** Terminal commands against a running host; `grapevine host` adds them as its subcommands. */
export function hostClientCommands(): Command[] {
  return [peersCommand(), sendCommand(), floodCommand(), receiveCommand()];
}
