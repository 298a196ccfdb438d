/**
 * SIGTERM under load, for each role, all real processes: two directory replicas on one real
 * redis-server, an introducer, and three hosts with peer caches, while simulated hosts keep leases
 * on both replicas, Resolve calls stream in, the application calls the hosts, and in-process hosts
 * join through the introducer over and over. Each role in turn gets SIGTERM and must:
 *
 *   - drain: calls it had accepted finish; nothing ends CANCELLED, INTERNAL or UNKNOWN (a call
 *     that arrives once it is going answers UNAVAILABLE, which a client retries elsewhere);
 *   - deregister (hosts and introducers): a DELETE with reason "deregistered", not an expiry later;
 *   - save its peer cache (hosts and introducers): peers.json written after the signal;
 *   - exit 0 within its grace period (--shutdown-grace-ms).
 *
 * The directory has no lease or cache of its own; its watchers are told to resume elsewhere.
 */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryClient, type PeerChange } from '../../services/client/directory-client';
import { IntroducerClient } from '../../services/client/introducer-client';
import { DirectoryServiceClient, WatchResponse } from '../../services/gen/grapevine/v1/directory';
import type { RunningHost } from '../../services/host/server';
import { call, startHostProcess, startTestHost, waitUntil, type HostProcess } from '../support/hosts';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { CheapFleet } from './support/cheap-hosts';
import {
  codeName,
  describeTally,
  failedCount,
  newTally,
  REPLICA_CHANNEL_OPTIONS,
  withFailover,
} from './support/failover';
import {
  isRunning,
  PLAINTEXT_ENV,
  sleep,
  startDirectoryProcess,
  startIntroducerProcess,
  terminate,
  type RoleProcess,
} from './support/roles';

const NETWORK = 'default';
/**
 * The simulated hosts advertise addresses nobody answers at: in the introducer's network it
 * would rightly evict them, so they keep leases in a network of their own.
 */
const FLEET_NETWORK = 'simulated';
const GRACE_MS = 3_000;
const LEASE_TTL_S = 10;
/** What a drained call may end with: done, or refused because the server was already going. */
const DRAINED = new Set(['OK', 'UNAVAILABLE']);

jest.setTimeout(180_000);

/** Sends SIGTERM and resolves with the exit code and how long the process took to exit. */
async function sigterm(p: RoleProcess | HostProcess): Promise<{ code: number | string; ms: number; at: number }> {
  const at = Date.now();
  p.process.child.kill('SIGTERM');
  const code = await p.process.exited();
  return { code, ms: Date.now() - at, at };
}

function savedCache(dir: string): { savedAtMs: number; peers: unknown[] } {
  return JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8')) as { savedAtMs: number; peers: unknown[] };
}

const examples = new Map<string, string>();

function count(codes: Map<string, number>, code: string, error?: unknown): void {
  codes.set(code, (codes.get(code) ?? 0) + 1);
  if (error !== undefined && !examples.has(code)) examples.set(code, (error as Error).message);
}

const show = (codes: Map<string, number>) => [...codes].map(([c, n]) => `${c} ${n}`).join(', ');

describe('SIGTERM under load: every role drains, deregisters, saves its cache and exits 0 in its grace', () => {
  let redis: RedisServer;
  const directories: RoleProcess[] = [];
  let introducer: RoleProcess;
  const hosts: HostProcess[] = [];
  const dataDirs: string[] = [];
  let watcher: DirectoryClient;
  const changes: PeerChange[] = [];
  const watching = new AbortController();
  let fleet: CheapFleet;
  const joiners: RunningHost[] = [];
  const figures: string[] = [];
  const graceArgs = ['--shutdown-grace-ms', String(GRACE_MS)];

  const deleted = (peerId: string) => changes.find((c) => c.type === 'delete' && c.peerId === peerId);

  beforeAll(async () => {
    redis = await startRedisServer();
    directories.push(
      ...(await Promise.all([0, 1].map(() => startDirectoryProcess({ redisUrl: redis.url, extraArgs: graceArgs })))),
    );
    const [a, b] = directories as [RoleProcess, RoleProcess];
    watcher = new DirectoryClient(a.address);
    void (async () => {
      for await (const change of watcher.watch(NETWORK, { fromRevision: 0, signal: watching.signal })) {
        changes.push(change);
      }
    })().catch(() => undefined);
    const introducerDir = mkdtempSync(join(tmpdir(), 'grapevine-fault-'));
    dataDirs.push(introducerDir);
    introducer = await startIntroducerProcess({
      directory: a.address,
      extraArgs: [
        ...graceArgs,
        '--data-dir',
        introducerDir,
        '--directory-ttl-seconds',
        String(LEASE_TTL_S),
        '--joins-per-source-per-second',
        '1000',
      ],
    });
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'grapevine-fault-'));
      dataDirs.push(dir);
      hosts.push(
        await startHostProcess(
          [
            ...graceArgs,
            '--seeds',
            introducer.address,
            '--directory',
            b.address,
            '--directory-ttl-seconds',
            String(LEASE_TTL_S),
            '--data-dir',
            dir,
          ],
          PLAINTEXT_ENV,
        ),
      );
    }
    fleet = new CheapFleet({
      replicas: [a.address, b.address],
      count: 100,
      network: FLEET_NETWORK,
      ttlSeconds: LEASE_TTL_S,
    });
    await fleet.start();
    joiners.push(...(await Promise.all([0, 1, 2, 3].map(() => startTestHost()))));
    const members = [introducer.peerId, ...hosts.map((h) => h.peerId)];
    await waitUntil(
      async () => {
        const listed = new Set((await watcher.listAll(NETWORK)).peers.map((p) => p.record.peerId));
        const simulated = new Set((await watcher.listAll(FLEET_NETWORK)).peers.map((p) => p.record.peerId));
        return members.every((id) => listed.has(id)) && fleet.liveIds().every((id) => simulated.has(id));
      },
      20_000,
      'the introducer and every host listed',
    );
  });

  afterAll(async () => {
    watching.abort();
    fleet?.stop();
    await Promise.all(joiners.map((h) => h.stop()));
    await Promise.all([...hosts, introducer, ...directories].filter(Boolean).map((p) => terminate(p.process)));
    hosts.forEach((h) => h.client.close());
    watcher?.close();
    await redis?.stop();
    dataDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
    console.log(`SIGTERM under load, figures:\n  ${figures.join('\n  ')}`);
    console.log(`first error of each kind:\n  ${[...examples].map(([c, m]) => `${c}: ${m}`).join('\n  ')}`);
  });

  test('a host', async () => {
    const [victim, ...others] = hosts as [HostProcess, ...HostProcess[]];
    // The application keeps calling the host: Peers and Flood, each awaited, several at once.
    const codes = new Map<string, number>();
    let loading = true;
    const load = Promise.all(
      [0, 1, 2, 3].map(async (worker) => {
        while (loading) {
          const request =
            worker % 2 === 0
              ? call(victim.app, victim.app.peers, {})
              : call(victim.app, victim.app.flood, {
                  messageId: '',
                  ttl: 0,
                  hops: 0,
                  payload: Buffer.from('load'),
                  originPeerId: '',
                });
          await request.then(
            () => count(codes, 'OK'),
            (error: unknown) => count(codes, codeName(error), error),
          );
          if (!isRunning(victim.process)) break;
        }
      }),
    );
    await sleep(1_000);
    const stopped = await sigterm(victim);
    loading = false;
    await load;
    figures.push(
      `host: exit ${stopped.code} ${stopped.ms} ms after SIGTERM (grace ${GRACE_MS} ms); its callers saw ${show(codes)}`,
    );
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThanOrEqual(GRACE_MS);
    expect([...codes.keys()].filter((code) => !DRAINED.has(code))).toEqual([]);
    await waitUntil(() => deleted(victim.peerId) !== undefined, 5_000, 'the host deregistered');
    expect(deleted(victim.peerId)!.reason).toBe('deregistered');
    const cache = savedCache(dataDirs[1]!);
    expect(cache.savedAtMs).toBeGreaterThanOrEqual(stopped.at);
    expect(cache.peers.length).toBeGreaterThan(0);
    expect(victim.process.output()).toMatch(/deregistered from the directory/);
    // The others noticed it left and went on.
    expect(others.every((h) => isRunning(h.process))).toBe(true);
  });

  test('an introducer', async () => {
    const client = new IntroducerClient(introducer.address, { deadlineMs: 5_000 });
    const codes = new Map<string, number>();
    let loading = true;
    const load = Promise.all(
      joiners.map(async (joiner) => {
        while (loading) {
          await client.join(joiner.reissueRecord()).then(
            () => count(codes, 'OK'),
            (error: unknown) => count(codes, codeName(error), error),
          );
        }
      }),
    );
    await waitUntil(() => (codes.get('OK') ?? 0) >= 8, 20_000, 'joins going through');
    const joinedBefore = codes.get('OK') ?? 0;
    const stopped = await sigterm(introducer);
    await sleep(300);
    loading = false;
    await load;
    client.close();
    figures.push(
      `introducer: exit ${stopped.code} ${stopped.ms} ms after SIGTERM (grace ${GRACE_MS} ms); joins ${show(codes)}`,
    );
    expect(joinedBefore).toBeGreaterThan(0);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThanOrEqual(GRACE_MS);
    expect([...codes.keys()].filter((code) => !DRAINED.has(code))).toEqual([]);
    await waitUntil(() => deleted(introducer.peerId) !== undefined, 5_000, 'the introducer deregistered');
    expect(deleted(introducer.peerId)!.reason).toBe('deregistered');
    const cache = savedCache(dataDirs[0]!);
    expect(cache.savedAtMs).toBeGreaterThanOrEqual(stopped.at);
    expect(cache.peers.length).toBeGreaterThan(0);
  });

  test('a directory replica', async () => {
    const [a, b] = directories as [RoleProcess, RoleProcess];
    const insecure = ChannelCredentials.createInsecure();
    const replicas = [b, a].map((d) => new DirectoryServiceClient(d.address, insecure, REPLICA_CHANNEL_OPTIONS));
    // A watcher on the replica that stops: it is told to go elsewhere, with a resumable code.
    const watchEnd = new Promise<string>((resolve) => {
      const stream = replicas[0]!.watch({ network: FLEET_NETWORK, fromRevision: 0 });
      stream.on('data', (_: WatchResponse) => undefined);
      stream.on('error', (error: ServiceError) => resolve(codeName(error)));
      stream.on('end', () => resolve('ended without a status'));
    });
    const onB = new Map<string, number>();
    const tally = newTally();
    const ids = fleet.liveIds();
    let loading = true;
    const load = Promise.all(
      [0, 1, 2, 3, 4, 5, 6, 7].map(async (worker) => {
        let n = worker;
        while (loading) {
          const peerId = ids[n++ % ids.length]!;
          let first = true;
          await withFailover(
            replicas,
            0,
            (client) =>
              new Promise((resolve, reject) =>
                client.resolve(
                  { network: FLEET_NETWORK, target: { $case: 'peerId', value: peerId } },
                  new Metadata(),
                  { deadline: Date.now() + 3_000 },
                  (error: ServiceError | null, response) => {
                    if (first) count(onB, error ? codeName(error) : 'OK');
                    first = false;
                    return error ? reject(error) : resolve(response);
                  },
                ),
              ),
            tally,
          );
        }
      }),
    );
    await sleep(1_000);
    const fleetBefore = failedCount(fleet.stats().tally);
    const stopped = await sigterm(b);
    await sleep(1_000);
    loading = false;
    await load;
    replicas.forEach((client) => client.close());
    const watchCode = await watchEnd;
    figures.push(
      `directory: exit ${stopped.code} ${stopped.ms} ms after SIGTERM (grace ${GRACE_MS} ms); Resolve on it: ${show(onB)}; with a retry on the other replica: ${describeTally(tally)}; its watcher ended ${watchCode}`,
    );
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThanOrEqual(GRACE_MS);
    expect([...onB.keys()].filter((code) => !DRAINED.has(code))).toEqual([]);
    expect(failedCount(tally)).toBe(0);
    expect(watchCode).toBe('UNAVAILABLE');
    // The simulated hosts whose home it was renew on the other replica.
    await sleep((LEASE_TTL_S * 1_000) / 3);
    expect(failedCount(fleet.stats().tally)).toBe(fleetBefore);
  });
});
