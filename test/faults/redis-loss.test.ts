/**
 * Redis lost under load, for real: a `grapevine directory` process on a real redis-server, four
 * `grapevine host` processes registered with it, 200 simulated hosts (cheap-hosts.ts) keeping
 * leases, and a steady stream of Resolve calls. Then:
 *
 *   1. Redis is killed with SIGKILL and, 5 s later, started again on the same port (empty: nothing
 *      is saved). Meanwhile the directory must answer UNAVAILABLE (no other code), report
 *      NOT_SERVING on grpc.health.v1, and keep running; once Redis is back it must hold every live
 *      host again within one lease period (the hosts register again on NOT_FOUND).
 *   2. FLUSHALL: the same, without the outage.
 *
 * At the end every live host, real or simulated, must be listed: a lease lost for good (one the
 * directory never got back) is counted and printed, and must be 0.
 */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryClient } from '../../services/client/directory-client';
import { DirectoryServiceClient, ResolveResponse } from '../../services/gen/grapevine/v1/directory';
import { checkHealth } from '../support/grpc-probes';
import { startHostProcess, waitUntil, type HostProcess } from '../support/hosts';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { CheapFleet } from './support/cheap-hosts';
import { codeName, failedCount } from './support/failover';
import {
  isRunning,
  PLAINTEXT_ENV,
  sleep,
  startDirectoryProcess,
  terminate,
  unexpectedLogs,
  type RoleProcess,
} from './support/roles';

const NETWORK = 'default';
/** The lease TTL every host asks for: the "one lease period" the directory has to recover in. */
const LEASE_TTL_S = 6;
const REAL_HOSTS = 4;
const SIMULATED_HOSTS = 200;
const RESOLVES_PER_S = 100;
/** How long Redis stays down. */
const OUTAGE_MS = 5_000;
/** The health monitor checks every second; give it two and a loaded machine. */
const NOT_SERVING_WITHIN_MS = 4_000;
/** Health is SERVING again this soon after every host is listed again (it polls the store each second). */
const SERVING_AGAIN_WITHIN_MS = 5_000;

jest.setTimeout(180_000);

interface Phase {
  readonly name: string;
  readonly codes: Map<string, number>;
}

describe('the directory when Redis is lost under load', () => {
  let redis: RedisServer;
  let directory: RoleProcess;
  let lister: DirectoryClient;
  let resolver: DirectoryServiceClient;
  let fleet: CheapFleet;
  const hosts: HostProcess[] = [];
  const figures: string[] = [];
  let phase: Phase = { name: 'steady', codes: new Map() };
  const phases: Phase[] = [phase];
  let resolving = false;
  let resolveLoop: Promise<void> = Promise.resolve();

  const enterPhase = (name: string) => {
    phase = { name, codes: new Map() };
    phases.push(phase);
    return phase;
  };
  const everyone = () => [...hosts.map((h) => h.peerId), ...fleet.liveIds()];
  const missing = async (): Promise<string[]> => {
    const listed = new Set((await lister.listAll(NETWORK)).peers.map((p) => p.record.peerId));
    return everyone().filter((id) => !listed.has(id));
  };
  /** Waits until every live host is listed; resolves with the ms it took. */
  const allListedWithin = async (boundMs: number, what: string): Promise<number> => {
    const started = Date.now();
    let last: string[] = [];
    await waitUntil(
      async () => {
        try {
          last = await missing();
          return last.length === 0;
        } catch {
          return false;
        }
      },
      boundMs + 10_000,
      `${what}: every live host listed (still missing ${last.length})`,
    );
    return Date.now() - started;
  };

  const resolveOnce = (peerId: string): Promise<ResolveResponse> =>
    new Promise((resolve, reject) =>
      resolver.resolve(
        { network: NETWORK, target: { $case: 'peerId', value: peerId } },
        new Metadata(),
        { deadline: Date.now() + 3_000 },
        (error: ServiceError | null, response?: ResolveResponse) => (error ? reject(error) : resolve(response!)),
      ),
    );

  beforeAll(async () => {
    redis = await startRedisServer();
    directory = await startDirectoryProcess({ redisUrl: redis.url });
    lister = new DirectoryClient(directory.address, { deadlineMs: 3_000 });
    resolver = new DirectoryServiceClient(directory.address, ChannelCredentials.createInsecure());
    hosts.push(
      ...(await Promise.all(
        Array.from({ length: REAL_HOSTS }, () =>
          startHostProcess(
            ['--directory', directory.address, '--directory-ttl-seconds', String(LEASE_TTL_S)],
            PLAINTEXT_ENV,
          ),
        ),
      )),
    );
    fleet = new CheapFleet({
      replicas: [directory.address],
      count: SIMULATED_HOSTS,
      network: NETWORK,
      ttlSeconds: LEASE_TTL_S,
    });
    await fleet.start();
    resolving = true;
    // Open loop: one Resolve every 1/RESOLVES_PER_S s, whatever the answers take. An answer counts
    // in the phase it arrives in: one asked while Redis was away but answered after it returned
    // (a busy directory) is an answer from a directory that has Redis again.
    resolveLoop = (async () => {
      let n = 0;
      const count = (code: string) => phase.codes.set(code, (phase.codes.get(code) ?? 0) + 1);
      while (resolving) {
        const ids = everyone();
        resolveOnce(ids[n++ % ids.length]!).then(
          () => count('OK'),
          (error: unknown) => count(codeName(error)),
        );
        await sleep(1_000 / RESOLVES_PER_S);
      }
    })();
  });

  afterAll(async () => {
    resolving = false;
    await resolveLoop;
    fleet?.stop();
    await Promise.all(hosts.map((h) => terminate(h.process)));
    hosts.forEach((h) => h.client.close());
    if (directory) await terminate(directory.process);
    lister?.close();
    resolver?.close();
    await redis?.stop();
    for (const p of phases) figures.push(`${p.name}: ${[...p.codes].map(([c, n]) => `${c} ${n}`).join(', ')}`);
    console.log(`redis loss, figures:\n  ${figures.join('\n  ')}`);
  });

  test('every host, real and simulated, is listed before the faults', async () => {
    const took = await allListedWithin(LEASE_TTL_S * 1_000, 'start');
    figures.push(`${REAL_HOSTS} real and ${SIMULATED_HOSTS} simulated hosts listed ${took} ms after start`);
    expect(await checkHealth(directory.address)).toBe('SERVING');
  });

  test('Redis killed: UNAVAILABLE and NOT_SERVING meanwhile, every live host back within one lease period', async () => {
    await sleep(2_000);
    const outage = enterPhase('redis down');
    const killedAt = Date.now();
    await redis.kill();
    let notServingAfter = -1;
    await waitUntil(
      async () => {
        const health = await checkHealth(directory.address);
        if (health === 'NOT_SERVING' && notServingAfter < 0) notServingAfter = Date.now() - killedAt;
        return notServingAfter >= 0;
      },
      NOT_SERVING_WITHIN_MS + 5_000,
      'health NOT_SERVING',
    );
    expect(notServingAfter).toBeLessThanOrEqual(NOT_SERVING_WITHIN_MS);
    const listError = await lister.listAll(NETWORK).then(
      () => 'OK',
      (error: unknown) => codeName(error),
    );
    expect(listError).toBe('UNAVAILABLE');
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - killedAt)));
    expect(isRunning(directory.process)).toBe(true);

    enterPhase('redis back, hosts registering again');
    await redis.restart();
    const tookMs = await allListedWithin(LEASE_TTL_S * 1_000, 'after the restart');
    // Health follows the store through its once-a-second ping, which a busy machine may run a
    // little after the hosts' own calls have gone through.
    const listedAt = Date.now();
    await waitUntil(
      async () => (await checkHealth(directory.address)) === 'SERVING',
      SERVING_AGAIN_WITHIN_MS,
      'health SERVING again',
    );
    const servingAfterListedMs = Date.now() - listedAt;
    figures.push(
      `Redis killed: NOT_SERVING ${notServingAfter} ms after the kill; every live host listed again ${tookMs} ms after Redis returned (bound ${LEASE_TTL_S * 1_000} ms); SERVING ${servingAfterListedMs} ms after that (bound ${SERVING_AGAIN_WITHIN_MS} ms)`,
    );
    // While Redis was away the directory answered UNAVAILABLE and nothing else.
    const outageCodes = [...outage.codes.keys()].filter((code) => code !== 'OK');
    expect(outageCodes).toEqual(['UNAVAILABLE']);
    expect(tookMs).toBeLessThanOrEqual(LEASE_TTL_S * 1_000);
    for (const h of hosts) await h.process.waitFor(/directory lease lost/, 1_000);
  });

  test('FLUSHALL: every live host back within one lease period', async () => {
    enterPhase('steady after the restart');
    await sleep(2_000);
    enterPhase('after FLUSHALL');
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
    const tookMs = await allListedWithin(LEASE_TTL_S * 1_000, 'after FLUSHALL');
    figures.push(`FLUSHALL: every live host listed again ${tookMs} ms later (bound ${LEASE_TTL_S * 1_000} ms)`);
    expect(tookMs).toBeLessThanOrEqual(LEASE_TTL_S * 1_000);
    expect(await checkHealth(directory.address)).toBe('SERVING');
  });

  test('no lease is lost for good, and the directory never crashed', async () => {
    enterPhase('steady at the end');
    // Another lease period of renewals: leases that came back must also stay.
    await sleep(LEASE_TTL_S * 1_000);
    const lostForGood = await missing();
    const stats = fleet.stats();
    const restore = [...stats.restoreMs].sort((a, b) => a - b);
    figures.push(
      `leases lost and registered again: simulated ${stats.leasesLost} (back in p50 ${restore[Math.floor(restore.length / 2)] ?? 0} ms, max ${restore[restore.length - 1] ?? 0} ms); leases lost for good: ${lostForGood.length}`,
    );
    figures.push(
      `simulated hosts' calls: ${stats.tally.calls}, failed on every try ${failedCount(stats.tally)} (Redis down)`,
    );
    console.log(`leases lost for good: ${lostForGood.length}`);
    expect(lostForGood).toEqual([]);
    expect(stats.leasesLost).toBeGreaterThanOrEqual(2 * SIMULATED_HOSTS);
    expect(isRunning(directory.process)).toBe(true);
    expect(unexpectedLogs(directory.process)).toEqual([]);
    // The Resolve stream kept being answered all along: after the faults, only OK.
    const last = phases[phases.length - 1]!;
    expect([...last.codes.keys()]).toEqual(['OK']);
  });
});
