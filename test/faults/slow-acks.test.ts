/**
 * Acks slower than the probe timeout but inside the probe interval, between real `grapevine host`
 * processes behind the project's fault proxy. In SWIM the probe timeout only says when to ask
 * others to probe as well; the direct ack still counts until the probe ends, a whole interval after
 * it began. So a link whose round trip is 300 ms, under the local profile (probe every 1 s, timeout
 * 200 ms), must fail no probe and raise no suspicion. A transport that cut its ping calls at the
 * probe timeout would fail every probe on it.
 */
import { activePeers, call, waitUntil } from '../support/hosts';
import { startProxiedHost, type ProxiedHost } from './support/proxied-host';
import { metricSum, sleep, terminate } from './support/roles';

/** One way, on each host's proxy: every round trip between the two crosses one proxy twice. */
const ONE_WAY_MS = 150;
const WATCH_MS = 8_000;

jest.setTimeout(90_000);

describe('acks slower than the probe timeout', () => {
  const hosts: ProxiedHost[] = [];

  afterAll(async () => {
    await Promise.all(hosts.map((h) => terminate(h.host.process)));
    hosts.forEach((h) => h.host.client.close());
    await Promise.all(hosts.map((h) => h.proxy.close()));
  });

  test(`a ${2 * ONE_WAY_MS} ms round trip fails no probe when probes time out at 200 ms`, async () => {
    hosts.push(await startProxiedHost({ index: 0 }));
    hosts.push(await startProxiedHost({ index: 1, seed: hosts[0]!.proxy.address }));
    await waitUntil(
      async () => {
        const views = await Promise.all(hosts.map((h) => call(h.host.app, h.host.app.peers, {})));
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
