/** `grapevine peers list|resolve|watch|announce`: the directory from a terminal. */
import { status } from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { isPeerId, identityFromPem } from '../../common/identity';
import { PeerRecord, signRecord } from '../../common/records';
import { DirectoryClient, Peer } from '../../client/directory-client';
import { formatTable, parseOutputFormat, OutputFormat } from '../output';
import { addTlsOptions, credentialsFrom, type TlsOptions } from '../tls-options';

const DEFAULT_DIRECTORY = '127.0.0.1:7400';
const DEFAULT_NETWORK = 'default';

interface CommonOptions extends TlsOptions {
  directory: string;
  network: string;
  output: string;
}

function withCommon(command: Command): Command {
  return addTlsOptions(command)
    .addOption(
      new Option('--directory <host:port>', 'Directory address').default(DEFAULT_DIRECTORY).env('GRAPEVINE_DIRECTORY'),
    )
    .addOption(new Option('--network <name>', 'network to look in').default(DEFAULT_NETWORK).env('GRAPEVINE_NETWORK'))
    .option('--output <format>', 'table or json', 'table');
}

function describePeer(record: PeerRecord): Record<string, unknown> {
  return {
    peerId: record.peerId,
    network: record.network,
    name: record.name,
    addresses: record.addresses,
    labels: record.labels,
    seq: record.seq,
    issuedAtMs: record.issuedAtMs,
  };
}

function printPeers(peers: readonly Peer[], format: OutputFormat): void {
  if (format === 'json') {
    for (const peer of peers) {
      process.stdout.write(
        `${JSON.stringify({ ...describePeer(peer.record), revision: peer.revision, ttlRemainingMs: peer.ttlRemainingMs })}\n`,
      );
    }
    return;
  }
  const rows = peers.map((peer) => [
    peer.record.peerId,
    peer.record.name || '-',
    peer.record.addresses.join(','),
    Object.entries(peer.record.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',') || '-',
    String(peer.record.seq),
    `${Math.round(peer.ttlRemainingMs / 1_000)}s`,
  ]);
  process.stdout.write(`${formatTable(['PEER ID', 'NAME', 'ADDRESSES', 'LABELS', 'SEQ', 'TTL'], rows)}\n`);
}

export function peersCommand(): Command {
  const peers = new Command('peers').description('look peers up in the Directory');

  peers.addCommand(
    withCommon(new Command('list'))
      .description('list the live peers of a network')
      .option('--selector <selector>', 'label selector, e.g. "zone=eu-1,!canary"', '')
      .action(async (options: CommonOptions & { selector: string }) => {
        const format = parseOutputFormat(options.output);
        const client = new DirectoryClient(options.directory, { credentials: credentialsFrom(options) });
        try {
          const { peers: found, revision } = await client.listAll(options.network, { labelSelector: options.selector });
          printPeers(found, format);
          if (format === 'table') process.stdout.write(`${found.length} peers at revision ${revision}\n`);
        } finally {
          client.close();
        }
      }),
  );

  peers.addCommand(
    withCommon(new Command('resolve'))
      .description('find one peer by id or by name')
      .argument('<id-or-name>')
      .action(async (target: string, options: CommonOptions) => {
        const client = new DirectoryClient(options.directory, { credentials: credentialsFrom(options) });
        try {
          const peer = await client.resolve(options.network, isPeerId(target) ? { peerId: target } : { name: target });
          printPeers([peer], parseOutputFormat(options.output));
        } finally {
          client.close();
        }
      }),
  );

  peers.addCommand(
    withCommon(new Command('watch'))
      .description('print changes as they happen (Ctrl-C to stop)')
      .option('--from <revision>', 'start after this revision (default: now)')
      .action(async (options: CommonOptions & { from?: string }) => {
        const format = parseOutputFormat(options.output);
        const client = new DirectoryClient(options.directory, { credentials: credentialsFrom(options) });
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        try {
          const fromRevision = options.from === undefined ? undefined : Number(options.from);
          for await (const change of client.watch(options.network, { fromRevision, signal: abort.signal })) {
            if (format === 'json') {
              process.stdout.write(
                `${JSON.stringify({ type: change.type, revision: change.revision, reason: change.reason || undefined, ...describePeer(change.record) })}\n`,
              );
            } else {
              const what = change.type === 'put' ? 'PUT   ' : 'DELETE';
              const detail = change.type === 'put' ? change.record.addresses.join(',') : change.reason;
              process.stdout.write(
                `${change.revision}  ${what}  ${change.peerId}  ${change.record.name || '-'}  ${detail}\n`,
              );
            }
          }
        } finally {
          client.close();
        }
      }),
  );

  peers.addCommand(
    withCommon(new Command('announce'))
      .description('register a peer record and keep its lease renewed until Ctrl-C, then deregister')
      .requiredOption('--key <file>', 'PEM private key from `grapevine keygen`')
      .requiredOption('--address <host:port...>', 'where the peer listens')
      .option('--name <name>', 'a name for the peer (RFC 1123 label)', '')
      .option('--label <key=value...>', 'labels', [])
      .option('--ttl <seconds>', 'lease TTL (0: the directory default)', '0')
      .action(
        async (
          options: CommonOptions & { key: string; address: string[]; name: string; label: string[]; ttl: string },
        ) => {
          const identity = identityFromPem(readFileSync(options.key, 'utf8'));
          const labels = Object.fromEntries(
            options.label.map((pair) => {
              const at = pair.indexOf('=');
              if (at <= 0) throw new Error(`--label ${JSON.stringify(pair)} must be key=value`);
              return [pair.slice(0, at), pair.slice(at + 1)];
            }),
          );
          // Millisecond time as seq: grows across restarts without keeping state.
          let seq = Date.now();
          const record = (withdrawn: boolean) =>
            signRecord(identity, {
              network: options.network,
              name: options.name,
              addresses: withdrawn ? [] : options.address,
              labels,
              seq: seq++,
              issuedAtMs: Date.now(),
              withdrawn,
            });
          const client = new DirectoryClient(options.directory, { credentials: credentialsFrom(options) });
          let lease = await client.register(record(false), Number(options.ttl));
          process.stdout.write(
            `registered ${identity.peerId} with a ${lease.ttlSeconds}s lease; renewing until Ctrl-C\n`,
          );
          const renewEvery = () => Math.max(1_000, (lease.ttlSeconds * 1_000) / 3);
          let timer: NodeJS.Timeout;
          const renewLoop = async () => {
            try {
              await client.renew(lease.leaseId);
            } catch (error) {
              if ((error as { code?: number }).code === status.NOT_FOUND) {
                lease = await client.register(record(false), Number(options.ttl));
                process.stdout.write('lease was lost; registered again\n');
              } else {
                process.stderr.write(`renew failed: ${(error as Error).message}\n`);
              }
            }
            timer = setTimeout(renewLoop, renewEvery());
          };
          timer = setTimeout(renewLoop, renewEvery());
          const stop = async () => {
            clearTimeout(timer);
            await client
              .deregister(record(true))
              .catch((error: Error) => process.stderr.write(`deregister failed: ${error.message}\n`));
            client.close();
            process.stdout.write('deregistered\n');
            process.exit(0);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        },
      ),
  );
  return peers;
}
