/**
 * The three roles as users run them, all real processes: a directory on a real redis-server, two
 * introducers, and six hosts joining through either. SIGKILL stands for a crash.
 *
 *   - a killed host vanishes from the directory (a Watch DELETE, reason "evicted") within the
 *     introducers' detection time, not a lease later;
 *   - a killed introducer is evicted by the other, which then probes every member, and joins go on;
 *   - with Redis down the hosts keep messaging and the directory answers UNAVAILABLE; once Redis is
 *     back (empty: nothing is saved) the directory holds every live host again within one lease.
 */
import { ServiceError, status, type ClientReadableStream } from '@grpc/grpc-js';
import { DirectoryClient, type PeerChange } from '../../services/client/directory-client';
import { MessageKind, type ReceiveResponse } from '../../services/gen/grapevine/v1/host';
import { introducerConfig } from '../../services/introducer/config';
import { freePort } from '../support/free-port';
import { call, startHostProcess, waitUntil, type HostProcess } from '../support/hosts';
import { scrape, seriesValue } from '../support/metrics-text';
import { runGrapevine, type GrapevineProcess } from '../support/processes';
import { startRedisServer, type RedisServer } from '../support/redis-server';

const TOKEN = 'e2e-introducer-token';
const LEASE_TTL_S = 10;
const defaults = introducerConfig({ directory: 'x:1', plaintext: true });
/**
 * A probe period to reach the member, a direct and an indirect probe, the suspicion time, one more
 * probe period, and two seconds for the eviction's DELETE and a loaded machine.
 */
const DETECT_WITHIN_MS =
  2 * defaults.memberProbeIntervalMs + 2 * defaults.memberProbeTimeoutMs + defaults.memberSuspicionMs + 2_000;

jest.setTimeout(150_000);

interface IntroducerProcess {
  readonly process: GrapevineProcess;
  readonly peerId: string;
  readonly address: string;
  readonly metricsPort: number;
}

async function startIntroducerProcess(directory: string): Promise<IntroducerProcess> {
  const process = runGrapevine([
    'introducer',
    '--grpc-port',
    '0',
    '--metrics-port',
    '0',
    '--profile',
    'local',
    '--directory',
    directory,
    '--directory-ttl-seconds',
    String(LEASE_TTL_S),
    '--introducer-token',
    TOKEN,
    '--log-level',
    'info',
  ]);
  const line = await process.waitFor(/^\{"peerId"/, 30_000);
  const { peerId, address, metricsPort } = JSON.parse(line) as { peerId: string; address: string; metricsPort: number };
  return { process, peerId, address, metricsPort };
}

/** A process killed by a signal has no exit code either: ask for both. */
function isRunning(p: GrapevineProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function metric(port: number, name: string): Promise<number | undefined> {
  return seriesValue(await scrape(port), name);
}

describe('a directory, two introducers and six hosts as processes', () => {
  let redis: RedisServer;
  let directory: GrapevineProcess;
  let directoryAddress = '';
  let client: DirectoryClient;
  const introducers: IntroducerProcess[] = [];
  const hosts: HostProcess[] = [];
  const changes: PeerChange[] = [];
  const watching = new AbortController();

  const listed = async () => (await client.listAll('default')).peers.map((p) => p.record.peerId).sort();
  const hostArgs = (introducer: IntroducerProcess) => [
    '--seeds',
    introducer.address,
    '--directory',
    directoryAddress,
    '--directory-ttl-seconds',
    String(LEASE_TTL_S),
  ];

  beforeAll(async () => {
    redis = await startRedisServer();
    const port = await freePort();
    directoryAddress = `127.0.0.1:${port}`;
    directory = runGrapevine([
      'directory',
      '--grpc-port',
      String(port),
      '--metrics-port',
      '0',
      '--redis-url',
      redis.url,
      '--introducer-token',
      TOKEN,
    ]);
    await directory.waitFor(/directory serving/, 30_000);
    client = new DirectoryClient(directoryAddress, { deadlineMs: 2_000 });
    introducers.push(...(await Promise.all([0, 1].map(() => startIntroducerProcess(directoryAddress)))));
    hosts.push(...(await Promise.all([0, 1, 2, 3, 4, 5].map((i) => startHostProcess(hostArgs(introducers[i % 2]))))));
    void (async () => {
      for await (const change of client.watch('default', { fromRevision: 0, signal: watching.signal })) {
        changes.push(change);
      }
    })().catch(() => undefined);
  });

  afterAll(async () => {
    watching.abort();
    for (const p of [...hosts.map((h) => h.process), ...introducers.map((i) => i.process)]) {
      if (isRunning(p)) p.child.kill('SIGTERM');
    }
    await Promise.all([...hosts.map((h) => h.process.exited()), ...introducers.map((i) => i.process.exited())]);
    hosts.forEach((h) => h.client.close());
    directory.child.kill('SIGTERM');
    await directory.exited();
    client.close();
    await redis.stop();
  });

  test('every host joins through an introducer and is registered', async () => {
    const everyone = [...hosts.map((h) => h.peerId), ...introducers.map((i) => i.peerId)].sort();
    await waitUntil(
      async () => JSON.stringify(await listed()) === JSON.stringify(everyone),
      20_000,
      'all eight listed',
    );
    await Promise.all(hosts.map((h) => h.process.waitFor(/joined through an introducer/, 1_000)));
    // Both introducers share the probing: each has some of the eight (none probes itself).
    await waitUntil(
      async () => {
        const shares = await Promise.all(
          introducers.map((i) => metric(i.metricsPort, 'grapevine_introducer_probe_share_members')),
        );
        return shares.every((n) => (n ?? 0) > 0) && shares.reduce((a, n) => a! + n!, 0) === 8;
      },
      10_000,
      'the two introducers to split the eight members',
    );
  });

  test('kill -9 of a host: a DELETE (evicted) comes within the detection time', async () => {
    const victim = hosts[0];
    const killedAt = Date.now();
    victim.process.child.kill('SIGKILL');
    await victim.process.exited();
    await waitUntil(
      () => changes.some((c) => c.type === 'delete' && c.peerId === victim.peerId),
      DETECT_WITHIN_MS + 5_000,
      'the DELETE of the killed host',
    );
    const tookMs = Date.now() - killedAt;
    const deletion = changes.find((c) => c.type === 'delete' && c.peerId === victim.peerId)!;
    expect(deletion.reason).toBe('evicted');
    expect(tookMs).toBeLessThanOrEqual(DETECT_WITHIN_MS);
    console.log(`killed host evicted ${tookMs} ms after the kill (bound ${DETECT_WITHIN_MS} ms)`);
  });

  test('kill -9 of an introducer: the other evicts it, probes every member, and joins go on', async () => {
    const [dead, survivor] = introducers;
    dead.process.child.kill('SIGKILL');
    await dead.process.exited();
    await waitUntil(
      () => changes.some((c) => c.type === 'delete' && c.peerId === dead.peerId),
      DETECT_WITHIN_MS + 5_000,
      'the DELETE of the killed introducer',
    );
    // Five live hosts remain; the survivor probes all of them.
    await waitUntil(
      async () => (await metric(survivor.metricsPort, 'grapevine_introducer_probe_share_members')) === 5,
      10_000,
      'the survivor to take the whole share',
    );
    expect(await metric(survivor.metricsPort, 'grapevine_introducer_replicas')).toBe(1);
    // A newcomer that knows both introducers gets in through the live one.
    const newcomer = await startHostProcess([...hostArgs(survivor), '--seeds', `${dead.address},${survivor.address}`]);
    hosts.push(newcomer);
    await newcomer.process.waitFor(/joined through an introducer/, 15_000);
    await waitUntil(async () => (await listed()).includes(newcomer.peerId), 10_000, 'the newcomer listed');
  });

  test('Redis down: hosts keep messaging, the directory is UNAVAILABLE, then holds every live host again', async () => {
    const live = hosts.filter((h) => isRunning(h.process));
    const [sender, receiver] = live;
    const got: string[] = [];
    const stream: ClientReadableStream<ReceiveResponse> = receiver.app.receive({});
    stream.on('data', (m: ReceiveResponse) => {
      if (m.kind === MessageKind.MESSAGE_KIND_FLOOD) got.push(m.payload.toString());
    });
    stream.on('error', () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));

    await redis.kill();
    await waitUntil(
      async () => {
        try {
          await client.resolve('default', { peerId: sender.peerId });
          return false;
        } catch (error) {
          return (error as ServiceError).code === status.UNAVAILABLE;
        }
      },
      10_000,
      'the directory to answer UNAVAILABLE',
    );
    await call(sender.app, sender.app.flood, {
      messageId: '',
      ttl: 0,
      hops: 0,
      payload: Buffer.from('redis-down'),
      originPeerId: '',
    });
    await waitUntil(() => got.includes('redis-down'), 5_000, 'a flood while Redis is down');
    stream.cancel();

    await redis.restart();
    const back = Date.now();
    const expected = [...live.map((h) => h.peerId), introducers[1].peerId].sort();
    await waitUntil(
      async () => {
        try {
          return JSON.stringify(await listed()) === JSON.stringify(expected);
        } catch {
          return false;
        }
      },
      LEASE_TTL_S * 1_000 + 5_000,
      'every live host listed again',
    );
    const tookMs = Date.now() - back;
    expect(tookMs).toBeLessThanOrEqual(LEASE_TTL_S * 1_000);
    console.log(`after Redis returned, every live host was listed again in ${tookMs} ms (lease ${LEASE_TTL_S} s)`);
  });
});
