/**
 * `grapevine dev`: the whole system in one process for a first look, the way `consul agent -dev`
 * works: a Directory (the in-process store unless --redis or REDIS_URL names a Redis), an
 * Introducer, and a few hosts that join through it and register with the directory.
 */
import { rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { generateIdentity } from '../../common/identity';
import { createLogger, LogLevel } from '../../common/logging';
import { directoryConfigSchema } from '../../directory/config';
import { startDirectory } from '../../directory/server';
import { hostConfig } from '../../host/config';
import { RunningHost, startHost } from '../../host/server';
import { introducerConfig } from '../../introducer/config';
import { startIntroducer, type RunningIntroducer } from '../../introducer/server';
import { stopOnSignals } from '../signals';

/** gRPC ports of the dev hosts; 7600 is left for a `grapevine host` of one's own. */
const DEFAULT_HOST_PORTS = '7601,7602,7603';
/** Application ports of the dev hosts (Send, Flood, Receive, Peers); 7700 is left for one's own host. */
const DEFAULT_HOST_APP_PORTS = '7701,7702,7703';
/** /metrics ports of the dev hosts, in the same order (deploy/prometheus/prometheus.yml scrapes them). */
const DEFAULT_HOST_METRICS_PORTS = '9601,9602,9603';

/** "7601,7602,7603" as ports; 0 picks a free one, an empty list starts no host. */
function parsePorts(text: string): number[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const port = Number(part.trim());
    if (!/^\d+$/.test(part.trim()) || port > 65_535) {
      throw new InvalidArgumentError('must be comma-separated ports from 0 (any free port) to 65535');
    }
    return port;
  });
}

/**
 * Writes the /metrics endpoints as a Prometheus file_sd target list, one group per role, written
 * whole (temp file, then rename) so Prometheus never reads half a file.
 */
async function writeTargets(
  file: string,
  host: string,
  endpoints: readonly { role: string; port: number | undefined }[],
): Promise<void> {
  const dial = isWildcard(host) ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const roles = [...new Set(endpoints.map((e) => e.role))];
  const groups = roles.map((role) => ({
    targets: endpoints.filter((e) => e.role === role && e.port !== undefined).map((e) => `${dial}:${e.port}`),
    labels: { role },
  }));
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(groups, null, 2)}\n`);
  await rename(temp, file);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

export function devCommand(): Command {
  return new Command('dev')
    .description('run every role in one process for development (plaintext gRPC, memory store unless --redis)')
    .addOption(new Option('--redis <url>', 'use this Redis instead of the in-process store').env('REDIS_URL'))
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--directory-port <port>', 'Directory gRPC port', '7400')
    .option('--metrics-port <port>', 'Directory /metrics port', '9400')
    .option('--introducer-port <port>', 'Introducer gRPC port', '7500')
    .option('--introducer-metrics-port <port>', 'Introducer /metrics port', '9500')
    .option('--introducer-app-port <port>', "Introducer application port (Peers: the introducer's views)", '7502')
    .addOption(
      new Option('--host-ports <ports>', 'gRPC ports of the hosts, one host each (0: any free port; "" for no hosts)')
        .argParser(parsePorts)
        .default(parsePorts(DEFAULT_HOST_PORTS), DEFAULT_HOST_PORTS),
    )
    .addOption(
      new Option('--host-app-ports <ports>', 'application ports of the hosts, in the same order (0: any free port)')
        .argParser(parsePorts)
        .default(parsePorts(DEFAULT_HOST_APP_PORTS), DEFAULT_HOST_APP_PORTS),
    )
    .addOption(
      new Option('--host-metrics-ports <ports>', '/metrics ports of the hosts, in the same order (0: any free port)')
        .argParser(parsePorts)
        .default(parsePorts(DEFAULT_HOST_METRICS_PORTS), DEFAULT_HOST_METRICS_PORTS),
    )
    .option(
      '--prometheus-targets <file>',
      'write every /metrics endpoint to this file in Prometheus file_sd format (labels: role)',
    )
    .option('--log-level <level>', 'log level', 'warn')
    .action(
      async (options: {
        redis?: string;
        host: string;
        directoryPort: string;
        metricsPort: string;
        introducerPort: string;
        introducerMetricsPort: string;
        introducerAppPort: string;
        hostPorts: number[];
        hostAppPorts: number[];
        hostMetricsPorts: number[];
        prometheusTargets?: string;
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
            // Development: plaintext, chosen here on purpose and said in the banner.
            plaintext: true,
            // Dev's own secret: only its introducer may evict, and it lives as long as the process.
            introducerToken: randomBytes(18).toString('base64url'),
            logLevel: options.logLevel,
            shutdownGraceMs: 2_000,
          }),
        );
        const directory = await startDirectory(config, { log });
        const address = `${options.host}:${directory.grpcPort}`;

        let introducer: RunningIntroducer;
        try {
          introducer = await startIntroducer(
            introducerConfig({
              host: options.host,
              grpcPort: options.introducerPort,
              advertiseAddress: isWildcard(options.host) ? `127.0.0.1:${options.introducerPort}` : '',
              metricsHost: options.host,
              metricsPort: options.introducerMetricsPort,
              application: true,
              appHost: options.host,
              appPort: options.introducerAppPort,
              profile: 'local',
              plaintext: true,
              directory: address,
              introducerToken: config.introducerToken,
              logLevel: options.logLevel,
              shutdownGraceMs: config.shutdownGraceMs,
            }),
            { log, identity: generateIdentity() },
          );
        } catch (error) {
          await directory.stop();
          throw error;
        }

        const hosts: RunningHost[] = [];
        const stopHosts = () => Promise.all(hosts.map((host) => host.stop()));
        const startDevHost = async (port: number, appPort: number, metricsPort: number, seeds: string[]) => {
          const host = await startHost(
            hostConfig({
              host: options.host,
              grpcPort: port,
              // Peers cannot dial a wildcard: advertise loopback (a free port is only known later).
              advertiseAddress: isWildcard(options.host) && port !== 0 ? `127.0.0.1:${port}` : '',
              appHost: options.host,
              appPort,
              metricsHost: options.host,
              metricsPort,
              profile: 'local',
              plaintext: true,
              directory: address,
              seeds,
              logLevel: options.logLevel,
              shutdownGraceMs: config.shutdownGraceMs,
            }),
            // A fresh identity each run, given here so no host warns that it has no key file.
            { log, identity: generateIdentity() },
          );
          hosts.push(host);
          return host;
        };
        try {
          const metricsPortOf = (i: number) => options.hostMetricsPorts[i] ?? 0;
          const appPortOf = (i: number) => options.hostAppPorts[i] ?? 0;
          // Every host joins through the introducer, which dials it back and registers it.
          await Promise.all(
            options.hostPorts.map((port, i) =>
              startDevHost(port, appPortOf(i), metricsPortOf(i), [introducer.address]),
            ),
          );
          if (options.prometheusTargets) {
            const targets = [
              { role: 'directory', port: directory.metricsPort },
              { role: 'introducer', port: introducer.metricsPort },
              ...hosts.map((host) => ({ role: 'host', port: host.metricsPort })),
            ];
            await writeTargets(options.prometheusTargets, options.host, targets);
          }
        } catch (error) {
          await stopHosts();
          await introducer.stop();
          await directory.stop();
          throw error;
        }

        const hostLines = hosts.map(
          (host, i) =>
            `  host ${i + 1}     grpc ${host.address}   application ${host.appAddress}   peer ${host.peerId}   metrics http://${options.host}:${host.metricsPort}/metrics`,
        );
        const [first, second] = [hosts[0], hosts[1] ?? hosts[0]];
        const hostTries = first
          ? [
              `  npx grapevine host peers --host-address ${first.appAddress}`,
              `  npx grapevine host peers --host-address ${introducer.appAddress}     (the introducer's larger views)`,
              `  npx grapevine host receive --host-address ${second.appAddress}`,
              `  npx grapevine host flood hello --host-address ${first.appAddress}`,
              `  npx grapevine host send ${second.peerId} hi --host-address ${first.appAddress}`,
            ]
          : [];
        process.stdout.write(
          [
            'Grapevine dev is running (plaintext gRPC: for development only).',
            '',
            `  directory  grpc ${address}   store: ${directory.storeKind === 'redis' ? 'redis' : 'in-process memory (lost on exit; --redis URL to keep it)'}`,
            `  metrics    http://${options.host}:${directory.metricsPort}/metrics`,
            `  introducer grpc ${introducer.address}   application ${introducer.appAddress}   peer ${introducer.peerId}   metrics http://${options.host}:${introducer.metricsPort}/metrics`,
            ...hostLines,
            ...(hosts.length > 0 ? ['  (hosts: local profile, a new identity each run)'] : []),
            ...(options.prometheusTargets
              ? [`  Prometheus targets (file_sd) written to ${options.prometheusTargets}`]
              : []),
            '',
            'Try, in another terminal (dev speaks plaintext; every command and role reads this once it is set):',
            '  export GRAPEVINE_PLAINTEXT=true',
            '  npx grapevine keygen --out /tmp/web.key',
            `  npx grapevine peers announce --directory ${address} --key /tmp/web.key --name web --address 127.0.0.1:8080 --label tier=edge`,
            `  npx grapevine peers list --directory ${address}`,
            `  npx grapevine peers resolve web --directory ${address}`,
            `  npx grapevine peers watch --directory ${address}`,
            ...hostTries,
            '',
            'Watch a peer join and fail: keep `peers watch` open, start a host of your own that joins',
            'through the introducer, then kill it; the introducer evicts it within a few seconds:',
            `  npx grapevine host --grpc-port 7600 --metrics-port 9600 --profile local --seeds ${introducer.address} --directory ${address}`,
            '  kill -9 <its pid>     (watch shows DELETE ... evicted)',
            '',
            'Ctrl-C stops everything.',
            '',
          ].join('\n'),
        );
        // Hosts first: they deregister from the directory on the way out.
        stopOnSignals(
          async () => {
            await stopHosts();
            await introducer.stop();
            await directory.stop();
          },
          log,
          2 * config.shutdownGraceMs,
        );
      },
    );
}
