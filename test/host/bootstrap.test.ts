/**
 * Bootstrap as a host lives it: DNS seeds answered by a real DNS server on loopback, a corrupt
 * peer cache, a seed that is not there yet, and what the host says (log, health, metric) while it
 * knows nobody.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dns2 from 'dns2';
import { Registry } from '../../services/common/metrics';
import { PEER_CACHE_FILE, type RunningHost } from '../../services/host/server';
import { HOST_SERVICE_NAME } from '../../services/host/service';
import { makeTestCa } from '../support/certs';
import { startFaultProxy } from '../support/fault-proxy';
import { freePort } from '../support/free-port';
import { checkHealth, listServicesByReflection } from '../support/grpc-probes';
import { activePeers, call, startHostProcess, startTestHost, waitUntil, type HostProcess } from '../support/hosts';
import { scrape, seriesOf, seriesValue } from '../support/metrics-text';

jest.setTimeout(60_000);

const { Packet } = dns2;

/** Answers SRV for _grapevine._tcp.grapevine.test (pointing at `target`) and A for the target; nothing else. */
async function startDnsServer(
  seedPort: number,
  target = 'seed.grapevine.test',
): Promise<{ address: string; close(): Promise<void> }> {
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    const [question] = request.questions;
    const name = question.name.toLowerCase();
    if (name === '_grapevine._tcp.grapevine.test' && question.type === Packet.TYPE.SRV) {
      response.answers.push(
        Packet.createResourceFromQuestion(question, {
          ttl: 60,
          priority: 10,
          weight: 1,
          port: seedPort,
          target,
        }),
      );
    } else if (name === target && question.type === Packet.TYPE.A) {
      response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 60, address: '127.0.0.1' }));
    } else if (name !== target) {
      response.header.rcode = 3;
    }
    void send(response);
  });
  await server.listen(0, '127.0.0.1');
  return {
    address: `127.0.0.1:${server.address().port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function bootstrapCount(host: RunningHost, source: string, outcome: string): Promise<number> {
  const metric = await host.metrics.bootstrapAttempts.get();
  return metric.values.find((v) => v.labels.source === source && v.labels.outcome === outcome)?.value ?? 0;
}

describe('bootstrap sources', () => {
  const hosts: RunningHost[] = [];
  afterAll(() => Promise.all(hosts.map((h) => h.stop())));

  test('a host joins through an SRV DNS seed answered by a DNS server on loopback', async () => {
    const seed = await startTestHost();
    hosts.push(seed);
    const dns = await startDnsServer(seed.grpcPort);
    try {
      const host = await startTestHost({ dnsSeeds: ['_grapevine._tcp.grapevine.test'], dnsResolver: dns.address });
      hosts.push(host);
      await waitUntil(() => host.node.activeView().includes(seed.peerId), 10_000, 'the DNS-seeded host to join');
      await waitUntil(async () => (await bootstrapCount(host, 'dns', 'ok')) === 1, 2_000, 'the DNS source counted ok');
    } finally {
      await dns.close();
    }
  });

  test('under TLS a DNS seed is checked against the name it was found under, not its IP', async () => {
    const ca = makeTestCa();
    try {
      // The seed's certificate names it (localhost) and not its IP, and it advertises that name,
      // as a pod advertises its DNS name: the SRV record points at it.
      const named = ca.issue('seed', { sans: ['DNS:localhost'] });
      const tls = { plaintext: false, tlsCaFile: ca.caFile, tlsCertFile: named.certFile, tlsKeyFile: named.keyFile };
      const port = await freePort();
      const seed = await startTestHost({ ...tls, grpcPort: port, advertiseAddress: `localhost:${port}` });
      hosts.push(seed);
      const dns = await startDnsServer(port, 'localhost');
      try {
        const viaName = await startTestHost({
          ...tls,
          dnsSeeds: ['_grapevine._tcp.grapevine.test'],
          dnsResolver: dns.address,
        });
        hosts.push(viaName);
        await waitUntil(
          () => viaName.node.activeView().includes(seed.peerId),
          10_000,
          'the DNS-seeded host to join over TLS',
        );
        // The same seed by its IP fails the certificate check: the name is what made it work.
        const viaIp = await startTestHost({ ...tls, seeds: [`127.0.0.1:${port}`] });
        hosts.push(viaIp);
        await waitUntil(
          async () => (await bootstrapCount(viaIp, 'static', 'unreachable')) >= 1,
          10_000,
          'a refused round',
        );
        expect(viaIp.node.activeCount).toBe(0);
      } finally {
        await dns.close();
      }
    } finally {
      ca.remove();
    }
  });

  test('a DNS seed that does not resolve is passed over for the next source', async () => {
    const seed = await startTestHost();
    hosts.push(seed);
    const dns = await startDnsServer(seed.grpcPort);
    try {
      const host = await startTestHost({ dnsSeeds: ['missing.grapevine.test'], dnsResolver: dns.address });
      hosts.push(host);
      await waitUntil(async () => (await bootstrapCount(host, 'dns', 'empty')) >= 1, 10_000, 'a failed DNS round');
      expect(host.node.activeCount).toBe(0);
    } finally {
      await dns.close();
    }
  });
});

describe('a host process that reaches nobody', () => {
  let lonely: HostProcess | undefined;
  let seed: HostProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-bootstrap-'));
  afterAll(async () => {
    for (const h of [lonely, seed]) h?.process.child.kill('SIGTERM');
    await Promise.all([lonely?.process.exited(), seed?.process.exited()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('waits for a seed slower than a neighbour request may take, rather than backing off', async () => {
    const slowSeed = await startTestHost();
    // Every segment from the seed takes 300 ms: a contact takes over a second, past the local
    // profile's 500 ms neighbour-request deadline and within the 2 s of ordinary peer calls.
    const proxy = await startFaultProxy({ target: slowSeed.address, downstream: { latencyMs: 300 } });
    const registry = new Registry();
    const newcomer = await startTestHost({ seeds: [proxy.address] }, undefined, { registry });
    try {
      const outcomes = async () => {
        const attempts = await registry.getSingleMetric('grapevine_host_bootstrap_attempts_total')!.get();
        return Object.fromEntries(attempts.values.map((v) => [`${v.labels.source}/${v.labels.outcome}`, v.value]));
      };
      await waitUntil(async () => (await outcomes())['static/ok'] === 1, 20_000, 'the newcomer to join');
      expect(newcomer.node.activeView()).toContain(slowSeed.peerId);
      // Joined on the first round: no contact gave up on the seed.
      expect(await outcomes()).toEqual({ 'static/ok': 1 });
    } finally {
      await newcomer.stop();
      await proxy.close();
      await slowSeed.stop();
    }
  });

  test('says so in its log, health and metrics, keeps trying, and joins once the seed appears', async () => {
    const seedPort = await freePort();
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', PEER_CACHE_FILE), '{"version": 1, "peers": [tru');
    lonely = await startHostProcess(['--seeds', `127.0.0.1:${seedPort}`, '--data-dir', join(dir, 'data')]);
    const metricsPort = (JSON.parse(await lonely.process.waitFor(/^\{"peerId"/)) as { metricsPort: number })
      .metricsPort;

    await lonely.process.waitFor(/peer cache ignored/, 5_000);
    await lonely.process.waitFor(/this host knows nobody yet; retrying/, 10_000);
    expect(await checkHealth(lonely.address, HOST_SERVICE_NAME)).toBe('NOT_SERVING');
    expect(await checkHealth(lonely.address)).toBe('SERVING');
    expect(seriesValue(await scrape(metricsPort), 'grapevine_host_isolated')).toBe(1);
    expect(await listServicesByReflection(lonely.address)).toEqual(
      expect.arrayContaining([HOST_SERVICE_NAME, 'grpc.health.v1.Health']),
    );

    seed = await startHostProcess(['--grpc-port', String(seedPort)]);
    await waitUntil(
      async () => activePeers(await call(lonely!.app, lonely!.app.peers, {})).includes(seed!.peerId),
      40_000,
      'the lonely host to join the seed once it is up',
    );
    await waitUntil(
      async () => (await checkHealth(lonely!.address, HOST_SERVICE_NAME)) === 'SERVING',
      5_000,
      'health to turn SERVING',
    );
    const text = await scrape(metricsPort);
    expect(seriesValue(text, 'grapevine_host_isolated')).toBe(0);
    expect(seriesValue(text, 'grapevine_host_bootstrap_attempts_total', { source: 'static', outcome: 'ok' })).toBe(1);
    expect(seriesValue(text, 'grapevine_host_view_peers', { view: 'active' })).toBe(1);
    expect(
      seriesValue(text, 'grpc_server_handled_total', { grpc_service: 'grapevine.v1.HostService' }),
    ).toBeGreaterThan(0);
    expect(seriesValue(text, 'grpc_client_handled_total', { grpc_method: 'Handshake' })).toBeGreaterThan(0);
    expect(seriesValue(text, 'grapevine_host_sent_bytes_total', { type: 'handshake' })).toBeGreaterThan(0);
    // A host serves one network and says which on every series, so dashboards can select it.
    for (const name of ['grapevine_host_isolated', 'grpc_server_handled_total', 'process_cpu_seconds_total']) {
      expect(seriesOf(text, name).map((s) => s.labels.network)).toEqual(expect.arrayContaining(['default']));
      expect(seriesOf(text, name).every((s) => s.labels.network === 'default')).toBe(true);
    }
  });
});
