/**
 * `npm run bench:host`: 100 hosts in one process over real gRPC on loopback, each on a port of its
 * own, and the same network (size, membership config, flood count) in the simulator.
 *
 *   1. Calibration: the median round trip of a Ping between two quiet hosts; half of it is the
 *      one-way link latency the simulator is given, so both sides model the same link.
 *   2. Real runs, each in a fresh process started with --expose-gc: host 0 with no seeds, then the
 *      others in waves of ten started at once, each seeded with host 0 and a random earlier host; the time
 *      until every active view is full; heap per host after a forced GC; CPU per host over an idle
 *      window; then floods one at a time from random origins through the origin's Flood RPC, each
 *      timed at every other host's Receive stream.
 *   3. The simulator: the same size and 'local' profile, a fixed link latency from step 1, hosts
 *      joining at the rate the real ones started, and the same number of floods.
 *
 * Converge, heap and CPU are medians over the real runs; flood samples are pooled over them. Every
 * figure is printed with its target and whether it was met. The last line is one JSON object.
 *
 * Options: --runs N (real runs, default 1), --hosts N (default 100), --floods N (default 50).
 * One run takes about 1.5 minutes (most of it the wait for views to fill); --runs 3 about 5.
 * BENCH_NODE_FLAGS adds node flags to the real runs' processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { ChannelCredentials, ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { createLogger } from '../../services/common/logging';
import { HostServiceClient, type ReceiveResponse } from '../../services/gen/grapevine/v1/host';
import { hostConfig } from '../../services/host/config';
import { startHost, type RunningHost } from '../../services/host/server';
import { createRng, PROFILES } from '../../services/membership';
import { parseScenario } from '../../services/membership/sim/scenario';
import { Simulation, type SimObserver } from '../../services/membership/sim/simulator';
import { describeMachine } from './support/machine';
import { median, percentile, round } from './support/stats';

const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 && at + 1 < process.argv.length ? Number(process.argv[at + 1]) : fallback;
};
const RUNS = option('runs', 1);
const HOSTS = option('hosts', 100);
const FLOODS = option('floods', 50);
/** Floods sent first in each real run and not counted: connections and JIT warm up on them. */
const WARMUP_FLOODS = 3;
/** Longest wait for every active view to fill, from the first host's start. */
const CONVERGE_CAP_MS = 60_000;
/** Hosts started at once in each wave. */
const START_WAVE = 10;
/** Idle gossip after convergence over which CPU (and loop delay) is measured. */
const IDLE_MS = 10_000;
/** Longest wait for one flood to reach every other host before the next is sent. */
const FLOOD_TIMEOUT_MS = 2_000;
/** Pause after a flood has reached everyone, so its last duplicates land before the next. */
const FLOOD_GAP_MS = 50;
const PAYLOAD_BYTES = 64;
const CALIBRATION_PINGS = 200;
const SIM_SEEDS = 3;
const POLL_MS = 50;
/**
 * Wait after the forced GC before the idle window: the GC stops every host at once, and the probes
 * it makes late must not land in the window.
 */
const SETTLE_AFTER_GC_MS = 3_000;
const PROFILE = 'local';

const TARGETS = {
  floodReach: 1.0,
  floodP99Ms: 50,
  convergeS: 10,
  heapMbPerHost: 8,
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => bytes / 2 ** 20;

function unary<T>(start: (cb: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
}

function startOneHost(seeds: string[], seed: number): Promise<RunningHost> {
  return startHost(
    // Plaintext on loopback, as in development: the bench measures the protocol, not TLS.
    hostConfig({
      grpcPort: 0,
      appPort: 0,
      metrics: false,
      profile: PROFILE,
      seeds,
      logLevel: 'silent',
      shutdownGraceMs: 1_000,
      plaintext: true,
    }),
    // A bare registry: no default Node metrics per host, to keep 100 hosts light.
    { log: createLogger({ level: 'silent', role: 'bench' }), registry: new Registry(), seed },
  );
}

interface Delay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Event-loop delay over a stretch of time: how late timers and I/O callbacks ran. */
function loopDelay(): { stop(): Delay } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return {
    stop: () => {
      histogram.disable();
      return {
        p50Ms: histogram.percentile(50) / 1e6,
        p99Ms: histogram.percentile(99) / 1e6,
        maxMs: histogram.max / 1e6,
      };
    },
  };
}

// ---- child: calibration ---------------------------------------------------------------------------

interface Calibration {
  readonly rttP50Ms: number;
  readonly rttP99Ms: number;
  readonly oneWayMs: number;
  readonly samples: number;
}

/** Ping round trips to a host on loopback, from a client claiming to be its one neighbour. */
async function calibrate(): Promise<Calibration> {
  const a = await startOneHost([], 1);
  const b = await startOneHost([a.address], 2);
  const deadline = performance.now() + 10_000;
  while ((a.node.activeCount < 1 || b.node.activeCount < 1) && performance.now() < deadline) await sleep(POLL_MS);
  const client = new HostServiceClient(b.address, ChannelCredentials.createInsecure());
  const rtts: number[] = [];
  const warmup = 20;
  for (let i = 0; i < warmup + CALIBRATION_PINGS; i++) {
    const started = performance.now();
    // neighbor: false, so the ping changes nothing in b's views. Paced well under the per-peer rate.
    await unary((cb) =>
      client.ping(
        { sender: { peerId: a.peerId, address: a.address }, seq: 1_000_000 + i, neighbor: false, updates: [] },
        cb,
      ),
    );
    if (i >= warmup) rtts.push(performance.now() - started);
    await sleep(8);
  }
  client.close();
  await Promise.all([a.stop(), b.stop()]);
  const sorted = Float64Array.from(rtts).sort();
  const rttP50Ms = percentile(sorted, 50);
  return { rttP50Ms, rttP99Ms: percentile(sorted, 99), oneWayMs: rttP50Ms / 2, samples: rtts.length };
}

// ---- child: one real run --------------------------------------------------------------------------

interface ViewFill {
  readonly activeFull: number;
  readonly activeMin: number;
  readonly activeMean: number;
  readonly passiveFull: number;
  readonly passiveMin: number;
  readonly passiveMean: number;
}

/** Protocol counters summed over every host: signs of hosts that answer late. */
interface Health {
  readonly probeFailures: number;
  readonly indirectProbes: number;
  readonly suspicions: number;
  readonly deaths: number;
  readonly refutations: number;
  readonly neighborRequests: number;
}

function health(hosts: readonly RunningHost[]): Health {
  const sum = (f: (h: RunningHost) => number) => hosts.reduce((a, h) => a + f(h), 0);
  return {
    probeFailures: sum((h) => h.node.stats.probeFailures),
    indirectProbes: sum((h) => h.node.stats.indirectProbes),
    suspicions: sum((h) => h.node.stats.suspicionsStarted),
    deaths: sum((h) => h.node.stats.deathsDeclared),
    refutations: sum((h) => h.node.stats.refutations),
    neighborRequests: sum((h) => h.node.stats.neighborRequests),
  };
}

function healthDelta(from: Health, to: Health): Health {
  const keys = Object.keys(from) as (keyof Health)[];
  return Object.fromEntries(keys.map((key) => [key, to[key] - from[key]])) as unknown as Health;
}

/** The best the active views did: most views full at once, and when that was first seen. */
interface Fill {
  /** Every active view full; null if never within the cap. */
  convergeS: number | null;
  /** Every host within one peer of a full active view. */
  withinOneS: number | null;
  bestFull: number;
  bestFullS: number;
}

function trackFill(fill: Fill, activeCounts: readonly number[], activeViewSize: number, atS: number): void {
  const full = activeCounts.filter((n) => n >= activeViewSize).length;
  if (full > fill.bestFull) {
    fill.bestFull = full;
    fill.bestFullS = atS;
  }
  if (fill.withinOneS === null && activeCounts.every((n) => n >= activeViewSize - 1)) fill.withinOneS = atS;
  if (fill.convergeS === null && full === activeCounts.length) fill.convergeS = atS;
}

interface RealRun {
  readonly activeViewSize: number;
  readonly passiveViewSize: number;
  readonly startupS: number;
  /** Active-view fill, timed from the first host's start (watched until the cap). */
  readonly fill: Fill;
  /** From the first host's start until every host has at least one neighbour. */
  readonly connectedS: number | null;
  /** From the first host's start until every passive view is full (watched until the idle window ends). */
  readonly passiveFullS: number | null;
  readonly fillAtConverge: ViewFill;
  readonly fillAfterIdle: ViewFill;
  readonly heapBeforeMb: number;
  readonly heapAfterMb: number;
  readonly heapMbPerHost: number;
  readonly rssMbPerHost: number;
  readonly cpuMsPerSPerHost: number;
  readonly idleDelay: Delay;
  readonly floodDelay: Delay;
  /** Per receiver, per counted flood: ms from the Flood call to the message on the Receive stream. */
  readonly latenciesMs: number[];
  readonly hops: number[];
  /** Per counted flood: receivers reached / (hosts − 1). */
  readonly reach: number[];
  /** Per counted flood: ms until the last receiver had it (floods that reached everyone). */
  readonly completeMs: number[];
  readonly messagesPerFlood: number;
  readonly receptionsPerFlood: number;
  /** Process CPU per flood above idle gossip: all hosts' work for one flood, on one thread. */
  readonly floodCpuMs: number;
  readonly lateArrivals: number;
  readonly stopS: number;
  readonly healthJoin: Health;
  /** Over the forced GC and the settling wait after it. */
  readonly healthSettle: Health;
  readonly healthIdle: Health;
  readonly healthFloods: Health;
}

function viewFill(hosts: readonly RunningHost[]): ViewFill {
  const { activeViewSize, passiveViewSize } = hosts[0].node.config;
  const active = hosts.map((h) => h.node.activeCount);
  const passive = hosts.map((h) => h.node.passiveCount);
  return {
    activeFull: active.filter((n) => n >= activeViewSize).length,
    activeMin: Math.min(...active),
    activeMean: mean(active),
    passiveFull: passive.filter((n) => n >= passiveViewSize).length,
    passiveMin: Math.min(...passive),
    passiveMean: mean(passive),
  };
}

async function floodMessagesSent(hosts: readonly RunningHost[]): Promise<number> {
  let total = 0;
  for (const host of hosts) {
    const metric = await host.metrics.messagesSent.get();
    total += metric.values.find((value) => value.labels.type === 'flood')?.value ?? 0;
  }
  return total;
}

const floodReceptions = (hosts: readonly RunningHost[]) =>
  hosts.reduce((sum, h) => sum + h.node.stats.floodsDelivered + h.node.stats.floodDuplicates, 0);

async function realRun(run: number): Promise<RealRun> {
  const gc = globalThis.gc;
  if (!gc) throw new Error('a real run needs node --expose-gc');
  const collect = () => {
    gc();
    gc();
    return process.memoryUsage();
  };
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const rng = createRng(run);
  const before = collect();

  const hosts: RunningHost[] = [];
  const started = performance.now();
  const sinceStart = () => (performance.now() - started) / 1_000;
  // Host 0 first, then the rest in waves started at once (as a deployment rolls out), each host
  // seeded with host 0 and a random host of an earlier wave.
  hosts.push(await startOneHost([], run * 100_000));
  for (let wave = 1; wave < HOSTS; wave += START_WAVE) {
    const earlier = hosts.length;
    const batch = Array.from({ length: Math.min(START_WAVE, HOSTS - wave) }, (_, j) => {
      const seeds = [...new Set([hosts[0].address, hosts[rng.int(earlier)].address])];
      return startOneHost(seeds, run * 100_000 + wave + j);
    });
    hosts.push(...(await Promise.all(batch)));
  }
  const startupS = sinceStart();
  const { activeViewSize, passiveViewSize } = hosts[0].node.config;
  say(`run ${run}: ${HOSTS} hosts started in ${startupS.toFixed(1)} s`);

  // Watch the views from here to the end of the idle window.
  const fill: Fill = { convergeS: null, withinOneS: null, bestFull: 0, bestFullS: 0 };
  let connectedS: number | null = null;
  let passiveFullS: number | null = null;
  const watch = () => {
    const at = sinceStart();
    const counts = hosts.map((h) => h.node.activeCount);
    if (at * 1_000 <= CONVERGE_CAP_MS) trackFill(fill, counts, activeViewSize, at);
    if (connectedS === null && counts.every((n) => n >= 1)) connectedS = at;
    if (passiveFullS === null && hosts.every((h) => h.node.passiveCount >= passiveViewSize)) passiveFullS = at;
  };
  const healthStart = health(hosts);
  watch();
  const watcher = setInterval(watch, POLL_MS);
  while (fill.convergeS === null && sinceStart() * 1_000 < CONVERGE_CAP_MS) await sleep(POLL_MS);
  const fillAtConverge = viewFill(hosts);
  const healthConverged = health(hosts);
  say(
    fill.convergeS === null
      ? `run ${run}: active views NOT all full after ${CONVERGE_CAP_MS / 1_000} s: ${fillAtConverge.activeFull}/${HOSTS} full (min ${fillAtConverge.activeMin})`
      : `run ${run}: every active view full (${activeViewSize}) ${fill.convergeS.toFixed(2)} s after the first host started`,
  );

  const after = collect();
  await sleep(SETTLE_AFTER_GC_MS);
  const healthSettled = health(hosts);
  const cpu = process.cpuUsage();
  const idleStart = performance.now();
  const idle = loopDelay();
  await sleep(IDLE_MS);
  const idleDelay = idle.stop();
  const used = process.cpuUsage(cpu);
  const idleS = (performance.now() - idleStart) / 1_000;
  clearInterval(watcher);
  watch();
  const fillAfterIdle = viewFill(hosts);
  const healthIdle = health(hosts);
  const cpuMsPerSPerHost = (used.user + used.system) / 1_000 / idleS / HOSTS;

  // Floods: one Receive stream per host, as an application would hold.
  const credentials = ChannelCredentials.createInsecure();
  const clients = hosts.map((h) => new HostServiceClient(h.appAddress!, credentials));
  interface Pending {
    readonly id: string;
    readonly sentAt: number;
    readonly got: Set<number>;
    readonly latencies: number[];
    readonly hops: number[];
    readonly done: () => void;
  }
  let pending: Pending | undefined;
  let lateArrivals = 0;
  const streams: ClientReadableStream<ReceiveResponse>[] = clients.map((client, index) => {
    const stream = client.receive({});
    stream.on('data', (message: ReceiveResponse) => {
      const now = performance.now();
      const p = pending;
      if (!p || message.messageId !== p.id) {
        lateArrivals++;
        return;
      }
      if (p.got.has(index)) return;
      p.got.add(index);
      p.latencies.push(now - p.sentAt);
      p.hops.push(message.hops);
      // got holds the origin too: everyone has it at HOSTS.
      if (p.got.size === HOSTS) p.done();
    });
    stream.on('error', () => undefined);
    return stream;
  });
  const subscribed = async () => {
    const counts = await Promise.all(hosts.map(async (h) => (await h.metrics.receivers.get()).values[0]?.value ?? 0));
    return counts.every((count) => count >= 1);
  };
  while (!(await subscribed())) await sleep(POLL_MS);

  const latenciesMs: number[] = [];
  const hops: number[] = [];
  const reach: number[] = [];
  const completeMs: number[] = [];
  const sentBefore = await floodMessagesSent(hosts);
  const receptionsBefore = floodReceptions(hosts);
  const floodPhase = loopDelay();
  const floodCpu = process.cpuUsage();
  const floodStart = performance.now();
  for (let i = 0; i < WARMUP_FLOODS + FLOODS; i++) {
    const origin = rng.int(HOSTS);
    const id = `bench-${run}-${i}`;
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FLOOD_TIMEOUT_MS);
      pending = { id, sentAt: performance.now(), got: new Set([origin]), latencies: [], hops: [], done: resolve };
    });
    const p = pending as Pending;
    // No sender: the local application's Flood call, as an application makes it.
    await unary((cb) =>
      clients[origin].flood(
        { messageId: id, ttl: 0, hops: 0, payload: Buffer.from(id.padEnd(PAYLOAD_BYTES, '.')), originPeerId: '' },
        cb,
      ),
    );
    await finished;
    clearTimeout(timer);
    const complete = performance.now() - p.sentAt;
    pending = undefined;
    if (i >= WARMUP_FLOODS) {
      latenciesMs.push(...p.latencies);
      hops.push(...p.hops);
      reach.push((p.got.size - 1) / (HOSTS - 1));
      if (p.got.size === HOSTS) completeMs.push(complete);
    }
    await sleep(FLOOD_GAP_MS);
  }
  const floodDelay = floodPhase.stop();
  const floodUsed = process.cpuUsage(floodCpu);
  const floodS = (performance.now() - floodStart) / 1_000;
  // The process's CPU while flooding, less what idle gossip takes in the same time.
  const floodCpuMs =
    ((floodUsed.user + floodUsed.system) / 1_000 - cpuMsPerSPerHost * HOSTS * floodS) / (WARMUP_FLOODS + FLOODS);
  await sleep(500);
  const floodsSent = WARMUP_FLOODS + FLOODS;
  const messagesPerFlood = ((await floodMessagesSent(hosts)) - sentBefore) / floodsSent;
  const receptionsPerFlood = (floodReceptions(hosts) - receptionsBefore) / floodsSent;
  const healthFloods = health(hosts);
  say(`run ${run}: ${FLOODS} floods sent (after ${WARMUP_FLOODS} warm-up floods not counted)`);

  for (const stream of streams) stream.cancel();
  for (const client of clients) client.close();
  const stopStart = performance.now();
  await Promise.all(hosts.map((h) => h.stop()));
  const stopS = (performance.now() - stopStart) / 1_000;
  say(`run ${run}: every host stopped in ${stopS.toFixed(1)} s`);

  return {
    activeViewSize,
    passiveViewSize,
    startupS,
    fill,
    connectedS,
    passiveFullS,
    fillAtConverge,
    fillAfterIdle,
    heapBeforeMb: mb(before.heapUsed),
    heapAfterMb: mb(after.heapUsed),
    heapMbPerHost: mb(after.heapUsed - before.heapUsed) / HOSTS,
    rssMbPerHost: mb(after.rss - before.rss) / HOSTS,
    cpuMsPerSPerHost,
    idleDelay,
    floodDelay,
    latenciesMs,
    hops,
    reach,
    completeMs,
    messagesPerFlood,
    receptionsPerFlood,
    floodCpuMs,
    lateArrivals,
    stopS,
    healthJoin: healthDelta(healthStart, healthConverged),
    healthSettle: healthDelta(healthConverged, healthSettled),
    healthIdle: healthDelta(healthSettled, healthIdle),
    healthFloods: healthDelta(healthIdle, healthFloods),
  };
}

if (process.argv[2] === '--child') {
  // The built binary runs without source maps; tsx turns them on, and through them every failed
  // peer call (grpc-js formats two stack traces for each) costs far more than it would there.
  process.setSourceMapsEnabled(false);
  const work = process.argv[3] === 'calibrate' ? calibrate() : realRun(Number(process.argv[4]));
  work.then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}

// ---- the simulator --------------------------------------------------------------------------------

interface SimRun {
  readonly fill: Fill;
  readonly afterIdle: { activeFull: number; passiveFull: number; passiveMean: number };
  readonly latenciesMs: number[];
  readonly hops: number[];
  readonly reach: number[];
  readonly messagesPerFlood: number;
  readonly suspicions: number;
  readonly falseDeaths: number;
  readonly wallS: number;
}

function simulate(seed: number, oneWayMs: number, joinRatePerS: number): SimRun {
  const wallStart = performance.now();
  const scenario = parseScenario({
    name: 'bench-host',
    nodes: HOSTS,
    durationS: Math.ceil((CONVERGE_CAP_MS + IDLE_MS + FLOODS * FLOOD_TIMEOUT_MS) / 1_000) + 10,
    profile: PROFILE,
    network: { latency: { kind: 'fixed', ms: oneWayMs }, lossRate: 0 },
    joinRatePerS,
    componentEverySample: false,
  });
  const floods = new Map<string, { latencies: number[]; hops: number[]; messages: number }>();
  const starts = new Map<string, number>();
  const observer: SimObserver = {
    onEffects: (simulation, _node, effects) => {
      for (const out of effects.messages) {
        if (out.message.type !== 'flood') continue;
        const f = floods.get(out.message.id);
        if (f) f.messages++;
        else floods.set(out.message.id, { latencies: [], hops: [], messages: 1 });
      }
      for (const event of effects.events) {
        if (event.type !== 'flood') continue;
        const f = floods.get(event.id);
        const at = starts.get(event.id);
        if (!f || at === undefined) continue;
        f.latencies.push(simulation.now - at);
        f.hops.push(event.hops);
      }
    },
  };
  const sim = new Simulation(scenario, seed, observer);
  const { activeViewSize, passiveViewSize } = sim.config;
  const live = () => sim.nodes.filter((n) => n.up && n.joined && n.node);
  const fill: Fill = { convergeS: null, withinOneS: null, bestFull: 0, bestFullS: 0 };
  while (fill.convergeS === null && sim.now < CONVERGE_CAP_MS) {
    sim.runUntil(sim.now + POLL_MS);
    const nodes = live();
    if (nodes.length === HOSTS) {
      trackFill(
        fill,
        nodes.map((n) => n.node?.activeCount ?? 0),
        activeViewSize,
        sim.now / 1_000,
      );
    }
  }
  sim.runUntil(sim.now + IDLE_MS);
  const nodes = live();
  const afterIdle = {
    activeFull: nodes.filter((n) => (n.node?.activeCount ?? 0) >= activeViewSize).length,
    passiveFull: nodes.filter((n) => (n.node?.passiveCount ?? 0) >= passiveViewSize).length,
    passiveMean: nodes.reduce((a, n) => a + (n.node?.passiveCount ?? 0), 0) / nodes.length,
  };
  const latenciesMs: number[] = [];
  const hops: number[] = [];
  const reach: number[] = [];
  let messages = 0;
  for (let i = 0; i < FLOODS; i++) {
    // The simulator names its floods; the origin's own sends are seen before the id is returned.
    const at = sim.now;
    const id = sim.startFlood(PAYLOAD_BYTES);
    if (id === undefined) throw new Error('the simulator found no live node to flood from');
    starts.set(id, at);
    sim.runUntil(at + FLOOD_TIMEOUT_MS);
    const f = floods.get(id) ?? { latencies: [], hops: [], messages: 0 };
    latenciesMs.push(...f.latencies);
    hops.push(...f.hops);
    reach.push(f.latencies.length / (HOSTS - 1));
    messages += f.messages;
  }
  const figures = sim.result().figures;
  return {
    fill,
    afterIdle,
    latenciesMs,
    hops,
    reach,
    messagesPerFlood: messages / FLOODS,
    suspicions: figures.suspicions,
    falseDeaths: figures.falseDeaths,
    wallS: (performance.now() - wallStart) / 1_000,
  };
}

// ---- parent: run, collect, print ------------------------------------------------------------------

function runChild<T>(args: string[], echo: (line: string) => void): Promise<T> {
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--expose-gc', ...extra, ...process.execArgv, __filename, '--child', ...args],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let buffered = '';
    let result: T | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() as string;
      for (const line of lines) {
        if (line.startsWith('{')) result = JSON.parse(line) as T;
        else if (line.trim() !== '') echo(line);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 || result === undefined) return reject(new Error(`child ${args.join(' ')} exited with ${code}`));
      resolve(result);
    });
  });
}

const sortedOf = (xs: readonly number[]) => Float64Array.from(xs).sort();
const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, x) => a + x, 0) / xs.length : NaN);
const verdict = (met: boolean) => (met ? 'met' : 'MISSED');
const fmt = (x: number | null, digits = 2) => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
const seconds = (x: number | null) => (x === null ? 'never' : `${x.toFixed(2)} s`);
const healthLine = (h: Health) =>
  `${h.probeFailures} failed probes, ${h.indirectProbes} indirect probes, ${h.suspicions} suspicions taken up (own or gossiped), ${h.deaths} deaths declared, ${h.refutations} refutations, ${h.neighborRequests} neighbour requests`;

async function main(): Promise<void> {
  const wallStart = performance.now();
  const config = PROFILES[PROFILE]();
  console.log(`bench:host on ${describeMachine()}`);
  console.log(
    `${HOSTS} hosts, '${PROFILE}' profile (active view ${config.activeViewSize}, passive view ${config.passiveViewSize}, ` +
      `probe every ${config.probeIntervalMs} ms with a ${config.probeTimeoutMs} ms timeout, shuffle every ${config.shuffleIntervalMs} ms); ` +
      `${RUNS} real run(s), each a fresh process; ${FLOODS} floods per run, one at a time`,
  );

  const calibration = await runChild<Calibration>(['calibrate'], (line) => console.log(`  ${line}`));
  console.log(
    `calibration: Ping round trip between two quiet hosts on loopback: p50 ${calibration.rttP50Ms.toFixed(3)} ms, ` +
      `p99 ${calibration.rttP99Ms.toFixed(3)} ms (${calibration.samples} pings); ` +
      `one-way link latency for the simulator = p50 / 2 = ${calibration.oneWayMs.toFixed(3)} ms (fixed)`,
  );

  const runs: RealRun[] = [];
  for (let run = 1; run <= RUNS; run++) {
    runs.push(await runChild<RealRun>(['run', String(run)], (line) => console.log(`  ${line}`)));
  }
  const startupS = median(runs.map((r) => r.startupS));
  const joinRatePerS = HOSTS / startupS;

  const sims: SimRun[] = [];
  for (let seed = 1; seed <= SIM_SEEDS; seed++) sims.push(simulate(seed, calibration.oneWayMs, joinRatePerS));

  const { activeViewSize, passiveViewSize } = runs[0];
  const cap = CONVERGE_CAP_MS / 1_000;
  // A run that never converged counts as the cap in the median, so it cannot flatter the figure;
  // if none converged there is no figure.
  const convergeS = runs.some((r) => r.fill.convergeS !== null)
    ? median(runs.map((r) => r.fill.convergeS ?? cap))
    : null;
  const realLat = sortedOf(runs.flatMap((r) => r.latenciesMs));
  const realP50 = percentile(realLat, 50);
  const realP99 = percentile(realLat, 99);
  const realReach = runs.flatMap((r) => r.reach);
  const reachMin = Math.min(...realReach);
  const heapMbPerHost = median(runs.map((r) => r.heapMbPerHost));
  const cpuMs = median(runs.map((r) => r.cpuMsPerSPerHost));
  const simLat = sortedOf(sims.flatMap((s) => s.latenciesMs));
  const simP50 = percentile(simLat, 50);
  const simP99 = percentile(simLat, 99);
  const ratioP50 = realP50 / simP50;
  const ratioP99 = realP99 / simP99;
  const perRun = (f: (r: RealRun) => string) => (RUNS > 1 ? ` (per run: ${runs.map(f).join(', ')})` : '');
  const middle = runs[Math.floor(runs.length / 2)];

  const lines: string[] = [''];
  const say = (line: string) => lines.push(line);
  say(`real: ${HOSTS} hosts in one process over gRPC on loopback${RUNS > 1 ? `; medians of ${RUNS} runs` : ''}`);
  say(
    `  start: ${startupS.toFixed(1)} s to start every host, one after another (${joinRatePerS.toFixed(1)} hosts/s)${perRun((r) => r.startupS.toFixed(1))}`,
  );
  say(
    `  converge, defined as: every host's active view holds activeViewSize (${activeViewSize}) peers, timed from the first host's start, watched for ${cap} s`,
  );
  say(
    `    ${convergeS === null ? `not reached within ${cap} s` : `${convergeS.toFixed(2)} s`}   target <= ${TARGETS.convergeS} s: ${verdict(convergeS !== null && convergeS <= TARGETS.convergeS)}` +
      perRun((r) => fmt(r.fill.convergeS)),
  );
  for (const [i, r] of runs.entries()) {
    const a = r.fillAtConverge;
    const b = r.fillAfterIdle;
    say(
      `    run ${i + 1}: every host with a neighbour: ${seconds(r.connectedS)}; every host within one peer of a full active view: ${seconds(r.fill.withinOneS)}; ` +
        `most active views full at once: ${r.fill.bestFull}/${HOSTS} (first at ${r.fill.bestFullS.toFixed(2)} s)`,
    );
    say(
      `      when the wait ended: active ${a.activeFull}/${HOSTS} full (min ${a.activeMin}, mean ${a.activeMean.toFixed(2)}), passive (size ${passiveViewSize}) ${a.passiveFull}/${HOSTS} full (min ${a.passiveMin}, mean ${a.passiveMean.toFixed(1)}); ` +
        `after the idle window: active ${b.activeFull}/${HOSTS} (min ${b.activeMin}), passive ${b.passiveFull}/${HOSTS} (min ${b.passiveMin}); ` +
        `every passive view full: ${seconds(r.passiveFullS)}`,
    );
    say(`      while joining: ${healthLine(r.healthJoin)}`);
    say(`      forced GC and ${SETTLE_AFTER_GC_MS / 1_000} s after it: ${healthLine(r.healthSettle)}`);
    say(`      idle window:   ${healthLine(r.healthIdle)}`);
    say(`      flooding:      ${healthLine(r.healthFloods)}`);
  }
  say(
    `  heap per host: ${heapMbPerHost.toFixed(2)} MB (heapUsed after a forced GC once the wait ended, less heapUsed before the first host, / ${HOSTS})   target <= ${TARGETS.heapMbPerHost} MB: ${verdict(heapMbPerHost <= TARGETS.heapMbPerHost)}` +
      perRun((r) => r.heapMbPerHost.toFixed(2)),
  );
  say(
    `    heapUsed ${median(runs.map((r) => r.heapBeforeMb)).toFixed(1)} MB before, ${median(runs.map((r) => r.heapAfterMb)).toFixed(1)} MB after; RSS grew ${median(runs.map((r) => r.rssMbPerHost)).toFixed(2)} MB per host`,
  );
  say(
    `  CPU per host over ${IDLE_MS / 1_000} s of idle gossip: ${cpuMs.toFixed(2)} ms of CPU per second = ${(cpuMs / 10).toFixed(2)}% of one core (no target)` +
      perRun((r) => r.cpuMsPerSPerHost.toFixed(2)),
  );
  say(
    `  event-loop delay (one loop for all ${HOSTS} hosts): idle p50 ${middle.idleDelay.p50Ms.toFixed(1)} ms, p99 ${middle.idleDelay.p99Ms.toFixed(1)} ms, max ${middle.idleDelay.maxMs.toFixed(1)} ms; ` +
      `while flooding p50 ${middle.floodDelay.p50Ms.toFixed(1)} ms, p99 ${middle.floodDelay.p99Ms.toFixed(1)} ms, max ${middle.floodDelay.maxMs.toFixed(1)} ms`,
  );
  say(
    `  floods: ${realReach.length} counted, each timed from the origin's Flood call to each other host's Receive stream (${realLat.length} deliveries)`,
  );
  say(
    `    reach: worst ${reachMin.toFixed(4)}, mean ${mean(realReach).toFixed(4)}   target = ${TARGETS.floodReach.toFixed(1)}: ${verdict(reachMin >= TARGETS.floodReach)}`,
  );
  say(
    `    latency: p50 ${realP50.toFixed(2)} ms, p99 ${realP99.toFixed(2)} ms, max ${fmt(realLat[realLat.length - 1] ?? NaN)} ms   p99 target <= ${TARGETS.floodP99Ms} ms: ${verdict(realP99 <= TARGETS.floodP99Ms)}` +
      perRun((r) => {
        const own = sortedOf(r.latenciesMs);
        return `p50 ${percentile(own, 50).toFixed(1)} p99 ${percentile(own, 99).toFixed(1)}`;
      }),
  );
  const complete = sortedOf(runs.flatMap((r) => r.completeMs));
  say(
    `    until the last host had it: p50 ${fmt(percentile(complete, 50))} ms, p99 ${fmt(percentile(complete, 99))} ms (${complete.length} floods reached everyone); hops mean ${mean(runs.flatMap((r) => r.hops)).toFixed(2)}, max ${Math.max(...runs.flatMap((r) => r.hops))}`,
  );
  const messagesPerFlood = median(runs.map((r) => r.messagesPerFlood));
  const floodCpuMs = median(runs.map((r) => r.floodCpuMs));
  say(
    `    messages per flood: ${messagesPerFlood.toFixed(1)} Flood calls between hosts (${median(runs.map((r) => r.receptionsPerFlood)).toFixed(1)} copies received); arrivals after their flood's wait ended: ${runs.reduce((a, r) => a + r.lateArrivals, 0)}`,
  );
  say(
    `    CPU per flood (the whole process, above idle): ${floodCpuMs.toFixed(1)} ms, ${((floodCpuMs / messagesPerFlood) * 1_000).toFixed(0)} us per host-to-host call; ` +
      `every host shares one thread, so a flood's last delivery waits for most of that CPU`,
  );

  say(
    `simulator: the same ${HOSTS} nodes and '${PROFILE}' config, a fixed one-way latency of ${calibration.oneWayMs.toFixed(3)} ms, joins at ${joinRatePerS.toFixed(1)}/s (through an introduction, not static seeds); seeds 1..${SIM_SEEDS}`,
  );
  say(
    `  converge (same definition): ${sims.map((s) => (s.fill.convergeS === null ? `not within ${cap} s` : `${s.fill.convergeS.toFixed(2)} s`)).join(', ')}; ` +
      `within one peer of full: ${sims.map((s) => seconds(s.fill.withinOneS)).join(', ')}; most full at once: ${sims.map((s) => `${s.fill.bestFull}/${HOSTS}`).join(', ')}`,
  );
  say(
    `  after the idle window: active ${sims.map((s) => s.afterIdle.activeFull).join(', ')} /${HOSTS} full, passive ${sims.map((s) => s.afterIdle.passiveFull).join(', ')} /${HOSTS} full; ` +
      `${sims.reduce((a, s) => a + s.suspicions, 0)} suspicions and ${sims.reduce((a, s) => a + s.falseDeaths, 0)} false deaths in all`,
  );
  say(
    `  floods: reach worst ${Math.min(...sims.flatMap((s) => s.reach)).toFixed(4)}; latency p50 ${simP50.toFixed(3)} ms, p99 ${simP99.toFixed(3)} ms; hops mean ${mean(sims.flatMap((s) => s.hops)).toFixed(2)}, max ${Math.max(...sims.flatMap((s) => s.hops))}; messages per flood ${median(sims.map((s) => s.messagesPerFlood)).toFixed(1)}; ${sims.reduce((a, s) => a + s.wallS, 0).toFixed(1)} s wall`,
  );
  say(
    `real / simulated flood latency: p50 ${ratioP50.toFixed(1)}x, p99 ${ratioP99.toFixed(1)}x (the JSON's real_vs_sim_latency_ratio is the p50 one)`,
  );
  // The real figure also holds two loopback legs the simulator does not model: the application's
  // Flood call into the origin and each receiver's Receive stream out to its application.
  const legs = 2 * calibration.oneWayMs;
  say(
    `  with those two application legs (2 x ${calibration.oneWayMs.toFixed(3)} ms) added to the simulator's figure: p50 ${(realP50 / (simP50 + legs)).toFixed(1)}x, p99 ${(realP99 / (simP99 + legs)).toFixed(1)}x`,
  );
  say(`whole bench: ${((performance.now() - wallStart) / 1_000).toFixed(0)} s wall; now ${describeMachine()}`);
  console.log(lines.join('\n'));

  console.log(
    JSON.stringify({
      bench: 'host',
      hosts: HOSTS,
      converge_s: convergeS === null ? null : round(convergeS, 2),
      flood_reach: round(reachMin, 4),
      flood_p99_ms: round(realP99, 2),
      heap_mb_per_host: round(heapMbPerHost, 2),
      real_vs_sim_latency_ratio: round(ratioP50, 2),
    }),
  );
}

if (process.argv[2] !== '--child') {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
