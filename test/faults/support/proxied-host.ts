/**
 * A real `grapevine host` process behind the project's fault proxy: the host listens on a port of
 * its own and advertises the proxy, so every connection a peer makes to it crosses the proxy both
 * ways. Each proxy sits on 127.0.<index + 1>.1, a /24 of its own, as hosts on a LAN would be in
 * different address groups.
 */
import { startFaultProxy, type FaultProxy, type LinkFaults } from '../../support/fault-proxy';
import { freePort } from '../../support/free-port';
import { startHostProcess, type HostProcess } from '../../support/hosts';
import { PLAINTEXT_ENV } from './roles';

export interface ProxiedHost {
  readonly host: HostProcess;
  readonly proxy: FaultProxy;
  /** The host's own /metrics port, read from its start line. */
  readonly metricsPort: number;
}

export interface ProxiedHostOptions {
  /** Picks the proxy's address, 127.0.<index + 1>.1. */
  readonly index: number;
  /** The proxy address of a host to join through; none for the first host. */
  readonly seed?: string;
  /** The proxy's faults from the start (none unless given; setFaults changes them later). */
  readonly faults?: Partial<LinkFaults>;
  /** More `grapevine host` flags (a profile, say). */
  readonly args?: readonly string[];
}

export async function startProxiedHost(options: ProxiedHostOptions): Promise<ProxiedHost> {
  const grpcPort = await freePort();
  const proxy = await startFaultProxy({
    target: `127.0.0.1:${grpcPort}`,
    host: `127.0.${options.index + 1}.1`,
    ...(options.faults ? { faults: options.faults } : {}),
  });
  const host = await startHostProcess(
    [
      '--grpc-port',
      String(grpcPort),
      '--advertise-address',
      proxy.address,
      '--log-level',
      'warn',
      ...(options.args ?? []),
      ...(options.seed ? ['--seeds', options.seed] : []),
    ],
    PLAINTEXT_ENV,
  );
  const started = host.process
    .output()
    .split('\n')
    .find((line) => line.startsWith('{"peerId"'));
  if (!started) throw new Error(`host ${host.peerId} printed no start line`);
  return { host, proxy, metricsPort: (JSON.parse(started) as { metricsPort: number }).metricsPort };
}
