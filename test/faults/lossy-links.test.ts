/**
 * Slow and lossy links between real `grapevine host` processes, through the project's own fault
 * proxy (support/fault-proxy.ts; the kernel has no netem). Each host listens on its own port and
 * advertises a proxy in front of it, so every gRPC connection from a peer to a host crosses that
 * host's proxy, both ways. The proxies sit on 127.0.<i>.1, one /24 each, as hosts on a LAN would
 * be in different address groups.
 *
 * The links: 20 ms one way plus up to 10 ms of jitter, and 1% of TCP segments lost, each loss
 * costing a retransmission timeout (200 ms, doubling when the retransmission is lost too) for it
 * and everything behind it on that connection: what loss does to gRPC over TCP. The hosts run the
 * lan profile, whose timing the simulator's Lifeguard scenario measures at 1% loss
 * (services/membership/README.md): probe every 1 s, ack within 500 ms, suspicion 4 to 16 s.
 *
 * What must hold over 45 s of it: no false death (every host is alive, so any death a host
 * declares is false), the overlay stays one component, and floods reach everyone.
 */
import { Metadata, type ClientReadableStream } from '@grpc/grpc-js';
import { type ReceiveResponse } from '../../services/gen/grapevine/v1/host';
import { activePeers, call, waitUntil } from '../support/hosts';
import { startProxiedHost, type ProxiedHost } from './support/proxied-host';
import { metricSum, sleep, terminate } from './support/roles';

const HOSTS = 5;
const LINK = { latencyMs: 20, jitterMs: 10, lossRate: 0.01 } as const;
const SOAK_MS = 45_000;
/** Joins through one seed take a few probe periods, and the links slow them. */
const CONVERGE_TIMEOUT_MS = 30_000;

jest.setTimeout(SOAK_MS + 120_000);

interface LossyHost extends ProxiedHost {
  readonly received: Set<string>;
  readonly stream: ClientReadableStream<ReceiveResponse>;
}

describe('hosts over slow, lossy links', () => {
  const hosts: LossyHost[] = [];
  const figures: string[] = [];

  async function startLossyHost(index: number, seed: string | undefined): Promise<LossyHost> {
    const proxied = await startProxiedHost({ index, seed, faults: LINK, args: ['--profile', 'lan'] });
    // The application end: on the host's own port, not through the proxy.
    const received = new Set<string>();
    const stream = proxied.host.app.receive({}, new Metadata());
    stream.on('data', (m: ReceiveResponse) => received.add(m.messageId));
    stream.on('error', () => undefined);
    return { ...proxied, received, stream };
  }

  /** Groups of hosts joined by links both ends hold. */
  async function components(): Promise<number> {
    const views = await Promise.all(hosts.map((h) => call(h.host.app, h.host.app.peers, {})));
    const index = new Map(hosts.map((h, i) => [h.host.peerId, i]));
    const active = views.map((v) => new Set(activePeers(v).map((id) => index.get(id) ?? -1)));
    const seen = new Set<number>();
    let groups = 0;
    for (let start = 0; start < hosts.length; start++) {
      if (seen.has(start)) continue;
      groups++;
      const queue = [start];
      seen.add(start);
      while (queue.length > 0) {
        const i = queue.shift()!;
        for (let j = 0; j < hosts.length; j++) {
          if (!seen.has(j) && active[i]!.has(j) && active[j]!.has(i)) {
            seen.add(j);
            queue.push(j);
          }
        }
      }
    }
    return groups;
  }

  async function total(name: string): Promise<number> {
    const values = await Promise.all(hosts.map((h) => metricSum(h.metricsPort, name)));
    return values.reduce((a, b) => a + b, 0);
  }

  beforeAll(async () => {
    hosts.push(await startLossyHost(0, undefined));
    for (let i = 1; i < HOSTS; i++) hosts.push(await startLossyHost(i, hosts[0]!.proxy.address));
  });

  afterAll(async () => {
    hosts.forEach((h) => h.stream.cancel());
    await Promise.all(hosts.map((h) => terminate(h.host.process)));
    hosts.forEach((h) => h.host.client.close());
    await Promise.all(hosts.map((h) => h.proxy.close()));
    console.log(`lossy links, figures:\n  ${figures.join('\n  ')}`);
  });

  test('the hosts join into one overlay across the lossy links', async () => {
    const started = Date.now();
    await waitUntil(async () => (await components()) === 1, CONVERGE_TIMEOUT_MS, 'one overlay');
    figures.push(
      `${HOSTS} hosts (lan profile) joined through proxies (${LINK.latencyMs} ms + up to ${LINK.jitterMs} ms one way, ${LINK.lossRate * 100}% segment loss) in ${Date.now() - started} ms`,
    );
  });

  test(`45 s at ${LINK.lossRate * 100}% loss: no false death, one overlay, floods reach everyone`, async () => {
    const before = {
      deaths: await total('grapevine_host_deaths_total'),
      probes: await total('grapevine_host_probes_total'),
      probeFailures: await total('grapevine_host_probe_failures_total'),
      indirect: await total('grapevine_host_indirect_probes_total'),
      suspicions: await total('grapevine_host_suspicions_total'),
      refutations: await total('grapevine_host_refutations_total'),
      callFailures: await total('grapevine_host_call_failures_total'),
    };
    const proxyBefore = hosts.map((h) => h.proxy.stats());
    const splits: number[] = [];
    const until = Date.now() + SOAK_MS;
    while (Date.now() < until) {
      splits.push(await components());
      await sleep(2_000);
    }
    const after = {
      deaths: await total('grapevine_host_deaths_total'),
      probes: await total('grapevine_host_probes_total'),
      probeFailures: await total('grapevine_host_probe_failures_total'),
      indirect: await total('grapevine_host_indirect_probes_total'),
      suspicions: await total('grapevine_host_suspicions_total'),
      refutations: await total('grapevine_host_refutations_total'),
      callFailures: await total('grapevine_host_call_failures_total'),
    };
    const proxyAfter = hosts.map((h) => h.proxy.stats());
    const segments = proxyAfter.reduce((sum, s, i) => sum + s.segments - proxyBefore[i]!.segments, 0);
    const lost = proxyAfter.reduce((sum, s, i) => sum + s.lostSegments - proxyBefore[i]!.lostSegments, 0);
    const lostSyns = proxyAfter.reduce((sum, s, i) => sum + s.lostSyns - proxyBefore[i]!.lostSyns, 0);
    const resets = proxyAfter.reduce((sum, s, i) => sum + s.resets - proxyBefore[i]!.resets, 0);
    const delta = (key: keyof typeof before) => after[key] - before[key];
    figures.push(
      `over ${SOAK_MS / 1_000} s: ${segments} segments through the proxies, ${lost} lost (${((100 * lost) / Math.max(1, segments)).toFixed(2)}%), ${lostSyns} SYNs lost, ${resets} connections reset`,
    );
    figures.push(
      `probes ${delta('probes')}, failed ${delta('probeFailures')}, indirect ${delta('indirect')}, suspicions ${delta('suspicions')}, refutations ${delta('refutations')}, failed peer calls ${delta('callFailures')}`,
    );
    figures.push(
      `false deaths: ${delta('deaths')}; overlay checked ${splits.length} times, split ${splits.filter((c) => c > 1).length} times`,
    );
    expect(lost).toBeGreaterThan(0);
    expect(delta('deaths')).toBe(0);
    expect(splits.every((c) => c === 1)).toBe(true);

    const floods: string[] = [];
    for (const h of hosts) {
      const { messageId } = await call(h.host.app, h.host.app.flood, {
        messageId: '',
        ttl: 0,
        hops: 0,
        payload: Buffer.from('over lossy links'),
        originPeerId: '',
      });
      floods.push(messageId);
    }
    await waitUntil(
      () => floods.every((id, origin) => hosts.every((h, i) => i === origin || h.received.has(id))),
      10_000,
      'every flood at every host',
    );
  });
});
