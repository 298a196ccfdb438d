/**
 * Acks slower than the probe timeout but inside the probe interval, between real `grapevine host`
 * processes behind the project's fault proxy. In SWIM the probe timeout only says when to ask
 * others to probe as well; the direct ack still counts until the probe ends, a whole interval after
 * it began. So a link whose round trip is 300 ms, under the local profile (probe every 1 s, timeout
 * 200 ms), must fail no probe and raise no suspicion. A transport that cut its ping calls at the
 * probe timeout would fail every probe on it.
 */
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { freePort } from '../support/free-port';
import { activePeers, call, startHostProcess, waitUntil, type HostProcess } from '../support/hosts';
import { metricSum, PLAINTEXT_ENV, sleep, terminate } from './support/roles';

/** One way, on each host's proxy: every round trip between the two crosses one proxy twice. */
const ONE_WAY_MS = 150;
const WATCH_MS = 8_000;

jest.setTimeout(90_000);

interface ProxiedHost {
  readonly host: HostProcess;
  readonly proxy: FaultProxy;
  readonly metricsPort: number;
}

async function startProxiedHost(index: number, seed: string | undefined): Promise<ProxiedHost> {
  const grpcPort = await freePort();
  const proxy = await startFaultProxy({ target: `127.0.0.1:${grpcPort}`, host: `127.0.${index + 1}.1` });
  const host = await startHostProcess(
    [
      '--grpc-port',
      String(grpcPort),
      '--advertise-address',
      proxy.address,
      '--log-level',
      'warn',
      ...(seed ? ['--seeds', seed] : []),
    ],
    PLAINTEXT_ENV,
  );
  const started = host.process
    .output()
    .split('\n')
    .find((l) => l.startsWith('{"peerId"'))!;
  return { host, proxy, metricsPort: (JSON.parse(started) as { metricsPort: number }).metricsPort };
}

describe('acks slower than the probe timeout', () => {
  const hosts: ProxiedHost[] = [];

  afterAll(async () => {
    await Promise.all(hosts.map((h) => terminate(h.host.process)));
    hosts.forEach((h) => h.host.client.close());
    await Promise.all(hosts.map((h) => h.proxy.close()));
  });

  test(`a ${2 * ONE_WAY_MS} ms round trip fails no probe when probes time out at 200 ms`, async () => {
    hosts.push(await startProxiedHost(0, undefined));
    hosts.push(await startProxiedHost(1, hosts[0]!.proxy.address));
    await waitUntil(
      async () => {
        const views = await Promise.all(hosts.map((h) => call(h.host.client, h.host.client.peers, {})));
        return views.every((v, i) => activePeers(v).includes(hosts[1 - i]!.host.peerId));
      },
      20_000,
      'the two hosts neighbours of each other',
    );
    for (const h of hosts) h.proxy.setFaults({ latencyMs: ONE_WAY_MS });

    const total = async (name: string) =>
      (await Promise.all(hosts.map((h) => metricSum(h.metricsPort, name)))).reduce((a, b) => a + b, 0);
    const before = {
      probes: await total('grapevine_host_probes_total'),
      failures: await total('grapevine_host_probe_failures_total'),
      suspicions: await total('grapevine_host_suspicions_total'),
    };
    await sleep(WATCH_MS);
    const probes = (await total('grapevine_host_probes_total')) - before.probes;
    const failures = (await total('grapevine_host_probe_failures_total')) - before.failures;
    const suspicions = (await total('grapevine_host_suspicions_total')) - before.suspicions;

    // Each link is probed from one end each interval: about one probe a second between the two.
    expect(probes).toBeGreaterThanOrEqual(WATCH_MS / 1_000 / 2);
    expect({ failures, suspicions }).toEqual({ failures: 0, suspicions: 0 });
  });
});
