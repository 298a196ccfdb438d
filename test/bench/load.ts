/**
 * `npm run bench:load`: a soak of the directory on this machine. One real redis-server, two
 * directory replicas in their own processes, and three load processes (support/load-worker.ts)
 * playing, between them:
 *
 *   - 2,000 simulated hosts (cheap clients: a signed record and a lease each, no membership core)
 *     registering, renewing every third of a 30 s lease (the hosts' default), registering again on
 *     NOT_FOUND, and churning (5 a second leave, a DELETE, and come back 2 s later with a newer
 *     record, a PUT);
 *   - 200 watchers keeping a list-then-watch view of the network;
 *   - 2,000 Resolve calls a second, open loop, for random hosts, from a third load process that
 *     does nothing else: raw gRPC calls on node's HTTP/2 client (support/raw-stream.ts), so that
 *     neither the load's own client library nor its other work is what the latency measures;
 *   - and, as the baseline, a tenth as many calls from that same process to a bare gRPC echo server
 *     in a process of its own (support/echo-server.ts): the floor this machine, under this load,
 *     puts under any answer's time, whatever the server does.
 *
 * Every client prefers one replica and makes a failed call once more on the other (UNAVAILABLE,
 * DEADLINE_EXCEEDED, CANCELLED); half prefer each. A watcher whose stream failed resumes on the
 * other replica and, 15 s later, on its preferred one again (from the same revision), so the
 * replicas hold the same streams at the soak's end as at its start. The soak runs 5 minutes
 * after a 20 s warm-up; at 100 s Redis is killed with SIGKILL and started again empty 5 s later,
 * and at 200 s directory replica B is killed with SIGKILL and started again on its port 5 s
 * later.
 *
 * At the end the churn and the lookups stop, the watchers catch up, and:
 *   - renewals per second held (successful renewals a second, outside the fault windows);
 *   - Resolve p99 outside the fault windows (from each kill to one lease period after the
 *     restart: the time the hosts have to register again; a call still in flight when a kill
 *     came counts inside);
 *   - leases lost for good: simulated hosts that hold, or keep trying for, a lease and are not
 *     listed at the end;
 *   - watch events missed: over every watcher, entries of its view that differ from the final
 *     list (a peer missing, one too many, or another revision);
 *   - the floor's p50 and p99 over the same times, and Resolve p99 as a multiple of it;
 *   - where slow answers waited: replica A's own Resolve handling time (its histogram) and
 *     event-loop delay, and the load processes' event-loop delay;
 *   - directory RSS at the soak's start and end, from /proc: replica A's (it ran throughout) as
 *     the median of a reading a second over the soak's first and last 30 s, since its heap's
 *     committed size swings by tens of MiB between collections and one reading lands anywhere on
 *     that swing (the single readings are printed too; B was restarted, its start is taken after
 *     its warm-up); and replica A's heap in use, heap committed, memory outside the heap and
 *     watch streams open from its /metrics, to tell live memory from what RSS keeps.
 *
 * Ends with one JSON line. Options (environment): LOAD_SOAK_S (300), LOAD_HOSTS (2000),
 * LOAD_WATCHERS (200), LOAD_RESOLVES_PER_S (2000), LOAD_CHURN_PER_S (5), LOAD_TTL_S (30),
 * LOAD_FAULTS (1; 0 leaves the faults out).
 */
import { status } from '@grpc/grpc-js';
import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DirectoryClient } from '../../services/client/directory-client';
import { fixedPort } from '../faults/support/roles';
import { scrape, seriesOf, seriesValue, seriesValues } from '../support/metrics-text';
import { startRedisServer } from '../support/redis-server';
import { cpuSeconds, startChild, type Child } from './support/child';
import type { WorkerConfig, WorkerReport } from './support/load-worker';
import { describeMachine } from './support/machine';
import { FAILED_OUTCOME, NOT_FOUND_OUTCOME, OK_OUTCOME } from './support/resolve-outcome';
import { median, percentile, round, sumCounts } from './support/stats';

const SOAK_S = Number(process.env.LOAD_SOAK_S ?? 300);
const HOSTS = Number(process.env.LOAD_HOSTS ?? 2_000);
const WATCHERS = Number(process.env.LOAD_WATCHERS ?? 200);
const RESOLVES_PER_S = Number(process.env.LOAD_RESOLVES_PER_S ?? 2_000);
const CHURN_PER_S = Number(process.env.LOAD_CHURN_PER_S ?? 5);
const TTL_S = Number(process.env.LOAD_TTL_S ?? 30);
/** LOAD_FAULTS=0 runs the soak without the two faults, for comparison. */
const FAULTS = process.env.LOAD_FAULTS !== '0';
const WORKERS = 2;
const WARMUP_S = 20;
const REDIS_FAULT_AT_S = SOAK_S / 3;
const DIRECTORY_FAULT_AT_S = (2 * SOAK_S) / 3;
const DOWN_S = 5;
/** After a restart, the fault window lasts one lease period: the time hosts have to register again. */
const RECOVERY_S = TTL_S;
/** After the churn stops: rejoins finish, watch batches and progress messages arrive. */
const QUIESCE_MS = 5_000;
/** How long the watchers get to reach the final list's revision (progress messages come every 10 s). */
const CATCH_UP_MS = 60_000;
const NETWORK = 'load';
/** The soak's slices for the Resolve tail by time. */
const SLICE_MS = 30_000;
const MAX_IN_FLIGHT_NOTE = 'at their bound of calls in flight';
const ROOT = join(__dirname, '..', '..');
/** RSS is read once a second; start and end are the medians over this many seconds. */
const RSS_WINDOW_S = 30;
/**
 * The floor: a tenth as many calls as the lookups, from the same process, to a bare gRPC echo
 * server, each with about a Resolve answer's bytes each way.
 */
const FLOOR_PER_S = RESOLVES_PER_S / 10;
const FLOOR_BYTES = 256;
const TARGETS = { leasesLost: 0, watchEventsMissed: 0, rssGrowthPct: 10, resolveP99Ms: 20 } as const;

// The bench speaks plaintext gRPC to processes it starts itself, as a development setup does.
process.env.GRAPEVINE_PLAINTEXT = 'true';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

/** The pid of the redis-server listening on `port`, found in /proc. */
function redisPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // redis-server sets its process title to "redis-server 127.0.0.1:<port>".
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.includes('redis-server') && title.includes(`:${port}`)) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** Which malloc a process runs on: the image preloads jemalloc, which must be installed here too. */
function allocatorOf(pid: number): string {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libjemalloc')
    ? "jemalloc (the image's LD_PRELOAD)"
    : "glibc's malloc: libjemalloc.so.2 is not installed here (apt-get install libjemalloc2), so not as deployed";
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) / 1_024;
}

/** What the bench reads from a replica's /metrics at the soak's start and end. */
interface ReplicaReading {
  /**
   * JavaScript heap in use, heap committed (what RSS holds for the heap) and memory outside the
   * heap (Buffers), in MiB: where RSS growth lives, if in any.
   */
  readonly heapUsedMiB: number;
  readonly heapTotalMiB: number;
  readonly externalMiB: number;
  /** Watch streams open on the replica: a watcher that failed over to it stays there. */
  readonly watchers: number;
  /**
   * Watch calls gRPC has started and not yet finished (no status sent, no cancel seen), from the
   * server interceptor's counters: against `watchers`, it tells streams really open from slots
   * the directory kept after their call had gone.
   */
  readonly watchCallsOpen: number;
  /**
   * Event-loop delay p99 and max in ms since /metrics was last read (prom-client starts the
   * measurement again at every scrape, and only the bench scrapes it): a request that arrives
   * while the loop is held waits before its handling time starts.
   */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
  /** Cumulative counts of the Resolve handling-time buckets (every code), by upper bound in s. */
  readonly resolveBuckets: Map<number, number>;
}

const WATCH = { grpc_method: 'Watch' };
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** One scrape of a replica's /metrics, read once for everything the bench wants from it. */
async function readReplica(metricsPort: number): Promise<ReplicaReading> {
  const text = await scrape(metricsPort);
  const metric = (name: string) => seriesValue(text, name) ?? NaN;
  const resolveBuckets = new Map<number, number>();
  for (const { labels, value } of seriesOf(text, 'grpc_server_handling_seconds_bucket')) {
    if (labels.grpc_method !== 'Resolve') continue;
    const bound = labels.le === '+Inf' ? Infinity : Number(labels.le);
    resolveBuckets.set(bound, (resolveBuckets.get(bound) ?? 0) + value);
  }
  return {
    heapUsedMiB: metric('nodejs_heap_size_used_bytes') / 1_048_576,
    heapTotalMiB: metric('nodejs_heap_size_total_bytes') / 1_048_576,
    externalMiB: metric('nodejs_external_memory_bytes') / 1_048_576,
    watchers: metric('grapevine_directory_watchers'),
    watchCallsOpen:
      sum(seriesValues(text, 'grpc_server_started_total', WATCH)) -
      sum(seriesValues(text, 'grpc_server_handled_total', WATCH)),
    loopDelayP99Ms: metric('nodejs_eventloop_lag_p99_seconds') * 1_000,
    loopDelayMaxMs: metric('nodejs_eventloop_lag_max_seconds') * 1_000,
    resolveBuckets,
  };
}

/** The upper bound (ms) of the bucket that holds the p-th percentile of the counts between two readings. */
function bucketPercentileMs(start: Map<number, number>, end: Map<number, number>, p: number): number {
  const bounds = [...end.keys()].sort((a, b) => a - b);
  const total = (end.get(Infinity) ?? 0) - (start.get(Infinity) ?? 0);
  for (const bound of bounds) {
    if ((end.get(bound) ?? 0) - (start.get(bound) ?? 0) >= (total * p) / 100) return bound * 1_000;
  }
  return NaN;
}

function startDirectory(port: number, redisUrl: string, metricsPort: number): Promise<Child> {
  return startChild(
    'services/cli/main.ts',
    [
      'directory',
      '--redis-url',
      redisUrl,
      '--grpc-port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      // Every simulated host calls from 127.0.0.1, where a real fleet has an address each.
      '--registrations-per-source-per-second',
      '1000000',
      '--log-level',
      'info',
    ],
    /directory serving/,
    30_000,
  );
}

interface Worker {
  readonly child: ChildProcess;
  next<T>(type: string): Promise<T>;
  /** Sends { type } and resolves with the answer of the same type. */
  ask<T>(type: string): Promise<T>;
}

function startWorker(): Worker {
  // BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") reaches the load processes too.
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', join(__dirname, 'support', 'load-worker.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const waiting = new Map<string, (message: unknown) => void>();
  child.on('message', (message: { type: string }) => waiting.get(message.type)?.(message));
  child.once('exit', (code) => {
    if (code !== 0) {
      console.error(`a load worker exited with ${code}`);
      process.exit(1);
    }
  });
  const next = <T>(type: string) => new Promise<T>((resolve) => waiting.set(type, resolve as (m: unknown) => void));
  return {
    child,
    next,
    ask: <T>(type: string) => {
      const answer = next<T>(type);
      child.send({ type });
      return answer;
    },
  };
}

interface Window {
  readonly name: string;
  readonly from: number;
  to: number;
}

async function main(): Promise<void> {
  log(`bench:load on ${describeMachine()}`);
  log(
    `${HOSTS} simulated hosts (lease ${TTL_S} s, churn ${CHURN_PER_S}/s), ${WATCHERS} watchers, ${RESOLVES_PER_S} resolves/s; ${WORKERS} load processes for the hosts and watchers, one for the resolves; soak ${SOAK_S} s after ${WARMUP_S} s of warm-up`,
  );
  const redis = await startRedisServer();
  const ports = [await fixedPort(), await fixedPort()];
  const metricsPorts = [await fixedPort(), await fixedPort()];
  const directories: Child[] = [];
  for (const [i, port] of ports.entries()) directories.push(await startDirectory(port, redis.url, metricsPorts[i]!));
  const replicas = ports.map((port) => `127.0.0.1:${port}`);
  log(`redis-server ${redis.url}; directory A ${replicas[0]}, B ${replicas[1]}`);
  log(`replica A's allocator: ${allocatorOf(directories[0]!.process.pid!)}`);
  const echo = await startChild('test/bench/support/echo-server.ts', [], /echo listening on \d+/);
  const echoAddress = `127.0.0.1:${/(\d+)$/.exec(echo.line)![1]}`;

  const workers = Array.from({ length: WORKERS }, () => startWorker());
  const ready = workers.map((w) => w.next<{ peerIds: string[] }>('ready'));
  workers.forEach((w, index) => {
    const config: WorkerConfig = {
      index,
      replicas: index % 2 === 0 ? replicas : [...replicas].reverse(),
      network: NETWORK,
      hosts: HOSTS / WORKERS,
      ttlSeconds: TTL_S,
      watchers: WATCHERS / WORKERS,
      resolvesPerSecond: 0,
      churnPerSecond: CHURN_PER_S / WORKERS,
    };
    w.child.send({ type: 'start', config });
  });
  const peerIds = (await Promise.all(ready)).flatMap((r) => r.peerIds);
  // The lookups come from a process of their own, as from clients on other machines: timed in a
  // process that also plays a thousand hosts and a hundred watchers, every answer waited for that
  // process's own stalls as well (its event loop was late by up to half a second).
  const resolver = startWorker();
  const resolverReady = resolver.next('ready');
  resolver.child.send({
    type: 'start',
    config: {
      index: WORKERS,
      replicas,
      network: NETWORK,
      hosts: 0,
      ttlSeconds: TTL_S,
      watchers: 0,
      resolvesPerSecond: RESOLVES_PER_S,
      resolveTargets: peerIds,
      churnPerSecond: 0,
      floor: { address: echoAddress, perSecond: FLOOR_PER_S, bytes: FLOOR_BYTES },
    } satisfies WorkerConfig,
  });
  await resolverReady;
  workers.push(resolver);
  log('every host registered, every watcher listed; warming up');
  await sleep(WARMUP_S * 1_000);

  const soakStart = Date.now();
  const rssStart = directories.map((d) => rssMiB(d.process.pid!));
  const startA = await readReplica(metricsPorts[0]!);
  const pidA = directories[0]!.process.pid!;
  const rssA: { atMs: number; mib: number }[] = [];
  const rssSampler = setInterval(() => rssA.push({ atMs: Date.now(), mib: rssMiB(pidA) }), 1_000);
  let redisCpuBefore = 0;
  let redisRestarted = false;
  const redisCpuOffset = () => (redisRestarted ? 0 : redisCpuAtStart);
  const redisCpuAtStart = cpuSeconds(redisPid(redis.port)!);
  /** CPU seconds of every process of the bench, to show who used the machine's two cores. */
  const cpuOf = () => ({
    'directory A': cpuSeconds(directories[0]!.process.pid!),
    'load processes': workers.reduce((sum, w) => sum + cpuSeconds(w.child.pid!), 0),
    // Redis is restarted in the middle: its CPU is the sum over both processes.
    'redis-server': redisCpuBefore + cpuSeconds(redisPid(redis.port) ?? process.pid) - redisCpuOffset(),
    'this process': cpuSeconds(process.pid),
  });
  const cpuStart = cpuOf();
  log(`soak starts; directory RSS A ${rssStart[0]!.toFixed(1)} MiB, B ${rssStart[1]!.toFixed(1)} MiB`);
  const windows: Window[] = [];
  const at = (s: number) => sleep(Math.max(0, soakStart + s * 1_000 - Date.now()));

  let restoredMs = -1;
  let rssBStart = rssStart[1]!;
  const checker = new DirectoryClient(replicas[0]!, { deadlineMs: 10_000 });
  if (FAULTS) {
    await at(REDIS_FAULT_AT_S);
    const redisWindow: Window = { name: 'Redis killed and restarted', from: Date.now(), to: Infinity };
    windows.push(redisWindow);
    redisCpuBefore = cpuSeconds(redisPid(redis.port)!) - redisCpuAtStart;
    redisRestarted = true;
    await redis.kill();
    log('Redis killed (SIGKILL)');
    await sleep(DOWN_S * 1_000);
    await redis.restart();
    const redisBack = Date.now();
    redisWindow.to = redisBack + RECOVERY_S * 1_000;
    log('Redis started again (empty)');
    void (async () => {
      while (Date.now() < redisBack + 60_000) {
        try {
          const { peers } = await checker.listAll(NETWORK);
          if (peers.length >= HOSTS - 2 * CHURN_PER_S * 2) {
            restoredMs = Date.now() - redisBack;
            log(`${peers.length} hosts listed again ${restoredMs} ms after Redis returned`);
            return;
          }
        } catch {
          // Not yet.
        }
        await sleep(250);
      }
    })();

    await at(DIRECTORY_FAULT_AT_S);
    const dirWindow: Window = { name: 'directory B killed and restarted', from: Date.now(), to: Infinity };
    windows.push(dirWindow);
    directories[1]!.process.kill('SIGKILL');
    log('directory B killed (SIGKILL)');
    await sleep(DOWN_S * 1_000);
    directories[1] = await startDirectory(ports[1]!, redis.url, metricsPorts[1]!);
    dirWindow.to = Date.now() + RECOVERY_S * 1_000;
    log('directory B started again on its port');
    await sleep(RECOVERY_S * 1_000);
    rssBStart = rssMiB(directories[1]!.process.pid!);
  }

  await at(SOAK_S);
  const soakEnd = Date.now();
  const rssEnd = directories.map((d) => rssMiB(d.process.pid!));
  clearInterval(rssSampler);
  const endA = await readReplica(metricsPorts[0]!);
  const cpuEnd = cpuOf();
  const cores = (name: keyof typeof cpuEnd) => (cpuEnd[name] - cpuStart[name]) / ((soakEnd - soakStart) / 1_000);
  log(`soak ends; directory RSS A ${rssEnd[0]!.toFixed(1)} MiB, B ${rssEnd[1]!.toFixed(1)} MiB`);
  const quiesced = workers.map((w) => w.next('quiesced'));
  workers.forEach((w) => w.child.send({ type: 'quiesce' }));
  await Promise.all(quiesced);
  await sleep(QUIESCE_MS);
  const rssQuiet = directories.map((d) => rssMiB(d.process.pid!));

  // The final state: a list at revision R, once every watcher has seen up to R. Renewals go on, and
  // a lease lost meanwhile would change the state again: then list again, until it holds still.
  let listed: Record<string, number> = {};
  let caughtUpMs = 0;
  for (let attempt = 0; ; attempt++) {
    const { peers, revision } = await checker.listAll(NETWORK);
    listed = {};
    for (const p of peers) listed[p.record.peerId] = p.revision;
    const started = Date.now();
    while (Date.now() - started < CATCH_UP_MS) {
      const progress = await Promise.all(workers.map((w) => w.ask<{ minRevision: number }>('progress')));
      if (progress.every((p) => p.minRevision >= revision)) break;
      await sleep(500);
    }
    caughtUpMs = Date.now() - started;
    const again = await checker.listPage(NETWORK, { pageSize: 1 });
    if (again.revision === revision || attempt === 4) {
      log(`final state at revision ${revision}: ${peers.length} hosts; every watcher caught up in ${caughtUpMs} ms`);
      break;
    }
    log(`the state moved on (revision ${revision} → ${again.revision}) while the watchers caught up: listing again`);
  }
  const reports = await Promise.all(
    workers.map((w) => {
      const report = w.next<WorkerReport>('report');
      w.child.send({ type: 'final', listed });
      return report;
    }),
  );
  checker.close();

  // ---- figures ------------------------------------------------------------------------------------
  /** A call (or a second of renewals) counts inside a window if any of it fell in one. */
  const overlapsWindow = (from: number, to: number) => windows.some((w) => from <= w.to && to >= w.from);
  const live = reports.flatMap((r) => r.liveIds);
  const lostForGood = live.filter((id) => listed[id] === undefined);
  const extra = Object.keys(listed).filter((id) => !live.includes(id));

  const renewalsOutside: number[] = [];
  for (const r of reports) {
    r.fleet.renewalsBySecond.forEach((n, second) => {
      if (n === undefined) return;
      const t = r.fleet.startedAt + second * 1_000;
      if (t < soakStart || t >= soakEnd || overlapsWindow(t, t + 999)) return;
      const slot = Math.floor((t - soakStart) / 1_000);
      renewalsOutside[slot] = (renewalsOutside[slot] ?? 0) + n;
    });
  }
  const renewSeconds = renewalsOutside.filter((n) => n !== undefined);
  const renewRps = renewSeconds.reduce((a, b) => a + b, 0) / Math.max(1, renewSeconds.length);
  const expectedRenewRps = HOSTS / (TTL_S / 3);

  const outside: number[] = [];
  const inside: number[] = [];
  // Where in the soak the slow lookups were: a tail spread evenly is the machine's, one in a few
  // slices is an event's (a restart, a relist, a collector pause).
  const outsideBySlice = new Map<number, number[]>();
  const outcomeCounts = { ok: 0, notFound: 0, error: 0, errorOutside: 0 };
  /** Seconds into the soak of each Resolve that failed on both replicas outside the windows, by last status. */
  const failedOutside = new Map<string, number[]>();
  let resolveRetried = 0;
  let resolveShed = 0;
  for (const r of reports) {
    resolveRetried += r.resolveRetried;
    resolveShed += r.resolveShed;
    for (let i = 0; i < r.resolveStarts.length; i++) {
      const t = r.resolveStarts[i]!;
      if (t < soakStart || t >= soakEnd) continue;
      const outcome = r.resolveOutcomes[i]!;
      if (outcome === OK_OUTCOME) outcomeCounts.ok++;
      else if (outcome === NOT_FOUND_OUTCOME) outcomeCounts.notFound++;
      else outcomeCounts.error++;
      const failed = outcome >= FAILED_OUTCOME;
      if (overlapsWindow(t, t + r.resolveLatencies[i]!)) inside.push(r.resolveLatencies[i]!);
      else {
        outside.push(r.resolveLatencies[i]!);
        const slice = Math.floor((t - soakStart) / SLICE_MS);
        if (!outsideBySlice.has(slice)) outsideBySlice.set(slice, []);
        outsideBySlice.get(slice)!.push(r.resolveLatencies[i]!);
        if (failed) {
          outcomeCounts.errorOutside++;
          // What failed outside the windows, and when: a retry to the other replica did not fix it.
          const code = status[outcome - FAILED_OUTCOME] ?? String(outcome - FAILED_OUTCOME);
          failedOutside.set(code, [...(failedOutside.get(code) ?? []), Math.round((t - soakStart) / 1_000)]);
        }
      }
    }
  }
  const sortedOutside = Float64Array.from(outside).sort();
  const sortedInside = Float64Array.from(inside).sort();
  const soakSeconds = (soakEnd - soakStart) / 1_000;
  const resolveP99 = percentile(sortedOutside, 99);
  const floorOutside: number[] = [];
  for (const r of reports) {
    for (let i = 0; i < r.floorStarts.length; i++) {
      const t = r.floorStarts[i]!;
      if (t >= soakStart && t < soakEnd && !overlapsWindow(t, t + r.floorLatencies[i]!))
        floorOutside.push(r.floorLatencies[i]!);
    }
  }
  const sortedFloor = Float64Array.from(floorOutside).sort();
  const floorP99 = percentile(sortedFloor, 99);

  const watcherDiffs = reports.flatMap((r) => r.watcherDiffs);
  const watchMissed = watcherDiffs.reduce((a, b) => a + b, 0);
  const watchersOff = watcherDiffs.filter((d) => d > 0).length;
  const rssWindow = (fromMs: number, toMs: number) =>
    median(rssA.filter((r) => r.atMs >= fromMs && r.atMs < toMs).map((r) => r.mib));
  const rssStartA = rssWindow(soakStart, soakStart + RSS_WINDOW_S * 1_000);
  const rssEndA = rssWindow(soakEnd - RSS_WINDOW_S * 1_000, soakEnd + 1);
  const rssGrowthA = (100 * (rssEndA - rssStartA)) / rssStartA;
  const rssGrowthSingle = (100 * (rssEnd[0]! - rssStart[0]!)) / rssStart[0]!;
  const rssGrowthB = (100 * (rssEnd[1]! - rssBStart)) / rssBStart;
  const restore = reports.flatMap((r) => r.fleet.restoreMs).sort((a, b) => a - b);
  const fleetFailed = sumCounts(reports.map((r) => r.fleet.failedCalls));

  console.log('');
  console.log(`bench:load on ${describeMachine()}`);
  console.log(
    `fault windows: ${windows.map((w) => `${w.name} at +${Math.round((w.from - soakStart) / 1_000)} s for ${Math.round((w.to - w.from) / 1_000)} s`).join('; ')}`,
  );
  console.log(
    `renewals: ${renewRps.toFixed(1)}/s held outside the fault windows (the fleet asks ${expectedRenewRps.toFixed(1)}/s); ${sum(reports.map((r) => r.fleet.renewals))} in all`,
  );
  console.log(
    `  leases lost (NOT_FOUND) and registered again: ${sum(reports.map((r) => r.fleet.leasesLost))}, back in p50 ${percentile(restore, 50).toFixed(0)} ms, p99 ${percentile(restore, 99).toFixed(0)} ms; every host listed again ${restoredMs} ms after Redis returned`,
  );
  console.log(
    `  calls the simulated hosts retried on the other replica: ${sum(reports.map((r) => r.fleet.fixedByRetry))}; failed on both: ${JSON.stringify(fleetFailed)} (Redis down)`,
  );
  console.log(
    `resolves: ${(outcomeCounts.ok + outcomeCounts.notFound + outcomeCounts.error) / soakSeconds} /s; ok ${outcomeCounts.ok}, NOT_FOUND ${outcomeCounts.notFound} (hosts between leave and rejoin, or not yet back), failed on both replicas ${outcomeCounts.error} (${outcomeCounts.errorOutside} outside the fault windows); retried on the other replica ${resolveRetried}; not issued (the load processes were ${MAX_IN_FLIGHT_NOTE}) ${resolveShed}`,
  );
  if (failedOutside.size > 0) {
    console.log(
      `  failed on both replicas outside the windows, by last status, at seconds into the soak: ${[...failedOutside]
        .map(([code, at]) => `${code} ${at.length} (${at.slice(0, 10).join(', ')}${at.length > 10 ? ', ...' : ''})`)
        .join('; ')}`,
    );
  }
  console.log(
    `  outside the fault windows (${sortedOutside.length}): p50 ${percentile(sortedOutside, 50).toFixed(2)} ms, p99 ${resolveP99.toFixed(2)} ms, p99.9 ${percentile(sortedOutside, 99.9).toFixed(2)} ms; inside (${sortedInside.length}): p50 ${percentile(sortedInside, 50).toFixed(2)} ms, p99 ${percentile(sortedInside, 99).toFixed(2)} ms`,
  );
  console.log(
    `  p99 by ${SLICE_MS / 1_000} s of the soak, outside the windows: ${[...outsideBySlice]
      .sort(([a], [b]) => a - b)
      .map(
        ([slice, latencies]) =>
          `+${(slice * SLICE_MS) / 1_000} s ${percentile(Float64Array.from(latencies).sort(), 99).toFixed(1)}`,
      )
      .join(', ')}`,
  );
  console.log(
    `  the floor, a bare gRPC echo server in its own process called ${FLOOR_PER_S}/s from the lookups' process (${FLOOR_BYTES} bytes each way), outside the windows (${sortedFloor.length}; ${sum(reports.map((r) => r.floorFailed))} failed in all, left out): p50 ${percentile(sortedFloor, 50).toFixed(2)} ms, p99 ${floorP99.toFixed(2)} ms; Resolve p99 is ${(resolveP99 / floorP99).toFixed(1)}x the floor's`,
  );
  // Where a slow answer waited: in the replica (its own handling time, from its /metrics, faults
  // included) or in the load process that reads it (its event loop's delay).
  console.log(
    `  replica A's own Resolve handling time over the soak: p50 ≤ ${bucketPercentileMs(startA.resolveBuckets, endA.resolveBuckets, 50)} ms, p99 ≤ ${bucketPercentileMs(startA.resolveBuckets, endA.resolveBuckets, 99)} ms (its histogram's bucket bounds), its event-loop delay p99 ${endA.loopDelayP99Ms.toFixed(1)} ms, max ${endA.loopDelayMaxMs.toFixed(0)} ms; event-loop delay of the load processes (hosts and watchers, then lookups) p99 ${reports.map((r) => r.loopDelayP99Ms.toFixed(1)).join(', ')} ms, max ${reports.map((r) => r.loopDelayMaxMs.toFixed(0)).join(', ')} ms`,
  );
  console.log(
    `leases lost for good: ${lostForGood.length} of ${live.length} live hosts; listed but not live: ${extra.length}`,
  );
  console.log(
    `watch events missed: ${watchMissed} over ${watcherDiffs.length} watchers (${watchersOff} differ from the final list); events applied ${sum(reports.map((r) => r.watchEvents))}, relists ${sum(reports.map((r) => r.relists))} (OUT_OF_RANGE after the flush), moves to the other replica ${sum(reports.map((r) => r.failovers))}, back to the preferred one ${sum(reports.map((r) => r.failbacks))}, away from it at the end ${sum(reports.map((r) => r.awayAtEnd))}, watch calls they held open at the end on A ${sum(reports.map((r) => r.watchCallsOpen[0] ?? 0))} and B ${sum(reports.map((r) => r.watchCallsOpen[1] ?? 0))}; streams ended by ${JSON.stringify(sumCounts(reports.map((r) => r.streamEnds)))}`,
  );
  const kinds = reports.reduce(
    (total, r) => ({
      missing: total.missing + r.diffKinds.missing,
      extra: total.extra + r.diffKinds.extra,
      otherRevision: total.otherRevision + r.diffKinds.otherRevision,
    }),
    { missing: 0, extra: 0, otherRevision: 0 },
  );
  if (watchMissed > 0) {
    console.log(
      `  differences: ${kinds.missing} missing, ${kinds.extra} extra, ${kinds.otherRevision} at another revision; for example:\n    ${reports
        .flatMap((r) => r.diffKinds.examples)
        .slice(0, 8)
        .join('\n    ')}`,
    );
  }
  console.log(
    `directory RSS after the quiet ${QUIESCE_MS / 1_000} s at the end: A ${rssQuiet[0]!.toFixed(1)} MiB, B ${rssQuiet[1]!.toFixed(1)} MiB`,
  );
  const rssRange = rssA.reduce((r, x) => [Math.min(r[0]!, x.mib), Math.max(r[1]!, x.mib)], [Infinity, -Infinity]);
  console.log(
    `directory RSS: A (ran throughout), medians of its first and last ${RSS_WINDOW_S} s, ${rssStartA.toFixed(1)} → ${rssEndA.toFixed(1)} MiB (${rssGrowthA.toFixed(1)}%; ${rssA.length} readings from ${rssRange[0]!.toFixed(1)} to ${rssRange[1]!.toFixed(1)} MiB)`,
  );
  const rssByMinute = new Map<number, number[]>();
  for (const r of rssA) {
    const minute = Math.floor((r.atMs - soakStart) / 60_000);
    rssByMinute.set(minute, [...(rssByMinute.get(minute) ?? []), r.mib]);
  }
  // A leak climbs minute after minute; a heap settling to its working size levels off.
  console.log(
    `  replica A's RSS by minute of the soak (medians): ${[...rssByMinute].map(([minute, mib]) => `+${minute} min ${median(mib).toFixed(0)}`).join(', ')} MiB`,
  );
  console.log(
    `  single readings at the soak's start and end: A ${rssStart[0]!.toFixed(1)} → ${rssEnd[0]!.toFixed(1)} MiB (${rssGrowthSingle.toFixed(1)}%); B (restarted) ${rssBStart.toFixed(1)} → ${rssEnd[1]!.toFixed(1)} MiB (${rssGrowthB.toFixed(1)}%)`,
  );
  console.log(
    `  replica A's JavaScript heap in use ${startA.heapUsedMiB.toFixed(1)} → ${endA.heapUsedMiB.toFixed(1)} MiB, heap committed ${startA.heapTotalMiB.toFixed(1)} → ${endA.heapTotalMiB.toFixed(1)} MiB, memory outside it (Buffers) ${startA.externalMiB.toFixed(1)} → ${endA.externalMiB.toFixed(1)} MiB; watch streams open on it ${startA.watchers} → ${endA.watchers} (Watch calls gRPC holds open ${startA.watchCallsOpen} → ${endA.watchCallsOpen})`,
  );
  console.log(
    `CPU over the soak, in cores: ${(Object.keys(cpuEnd) as (keyof typeof cpuEnd)[]).map((name) => `${name} ${cores(name).toFixed(2)}`).join(', ')}; directory B not counted (restarted); load average at the end ${loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')}`,
  );
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  console.log(
    `targets: leases_lost = 0 ${verdict(lostForGood.length === TARGETS.leasesLost)}; watch_events_missed = 0 ${verdict(watchMissed === TARGETS.watchEventsMissed)}; rss_growth_pct <= ${TARGETS.rssGrowthPct} ${verdict(rssGrowthA <= TARGETS.rssGrowthPct)}; resolve_p99_ms <= ${TARGETS.resolveP99Ms} ${verdict(resolveP99 <= TARGETS.resolveP99Ms)}`,
  );

  await Promise.all([...directories, echo].map((d) => d.stop()));
  await redis.stop();
  console.log(
    JSON.stringify({
      bench: 'load',
      renew_rps: round(renewRps, 1),
      resolve_p99_ms: round(resolveP99, 2),
      leases_lost: lostForGood.length,
      watch_events_missed: watchMissed,
      rss_growth_pct: round(rssGrowthA, 1),
    }),
  );
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
