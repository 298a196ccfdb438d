/**
 * `npm run bench:directory`: the Directory against a real redis-server over real gRPC on loopback.
 *
 * In one run: a bare grpc-js unary echo (the baseline, same payload size as a Resolve answer),
 * then Resolve, Renew and Register at concurrency 1 and 64, interleaved over several rounds and
 * reported as medians; a watch fan-out (1,000 watchers, 500 changes/s); and Redis memory per
 * registered peer at 100,000 peers. Servers run in their own processes; the load comes from this
 * one. Ends with one JSON line of the figures issue #3 names.
 *
 * The fan-out's lag is timed after a warm-up at the same rate (printed too, with its own p99).
 * The fan-out also prints the messages the watchers got and the CPU seconds the directory and this
 * process spent: on a machine shared with other work, that is what bounds the lag. For a quick
 * look at one part, BENCH_ROUNDS=0 skips the unary cases and BENCH_MEMORY_PEERS=0 the memory one
 * (their figures are then null); BENCH_FLOW_WINDOW sets the watchers' connection window in bytes.
 */
import { ChannelCredentials, Client, ServiceError } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryServiceClient, ResolveResponse } from '../../services/gen/grapevine/v1/directory';
import { Identity, generateIdentity } from '../../services/common/identity';
import { SignedRecord, signRecord } from '../../services/common/records';
import { freePort } from '../support/free-port';
import { startRedisServer } from '../support/redis-server';
import { Child, cpuSeconds, startChild } from './support/child';
import { LoadResult, closedLoop } from './support/load';
import { describeMachine } from './support/machine';
import { median, percentile, round } from './support/stats';
import { ECHO_METHOD } from './support/echo-server';
import { rawConnection, rawServerStream } from './support/raw-stream';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CASE_MS = Number(process.env.BENCH_CASE_MS ?? 3_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1_000);
const CHANGES_PER_S = Number(process.env.BENCH_CHANGES_PER_S ?? 500);
const WATCH_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
// Changes at the same rate before the timed ones, as every unary case has its warm-up: the lag of
// a directory that has been serving watchers for a while, not of its first second's cold code.
const WATCH_WARMUP_SECONDS = Number(process.env.BENCH_WATCH_WARMUP_SECONDS ?? 3);
const MEMORY_PEERS = Number(process.env.BENCH_MEMORY_PEERS ?? 100_000);
const NETWORK = 'bench';
const WATCH_PATH = '/grapevine.v1.DirectoryService/Watch';

function recordFor(identity: Identity, seq: number, index: number): SignedRecord {
  return signRecord(identity, {
    network: NETWORK,
    name: `peer-${index}`,
    addresses: [`10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:7400`],
    labels: { zone: `zone-${index % 4}`, role: 'host' },
    seq,
    issuedAtMs: Date.now(),
    withdrawn: false,
  });
}

const unary = <T>(start: (cb: (error: ServiceError | null, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));

/** Several connections: one HTTP/2 connection would serialise the load on one socket. */
function clients<T>(count: number, make: (options: object) => T): T[] {
  return Array.from({ length: count }, (_, i) => make({ 'grpc.primary_user_agent': `bench-${i}` }));
}

function show(name: string, result: LoadResult): void {
  console.log(
    `  ${name.padEnd(22)} ${result.rps.toFixed(0).padStart(7)} req/s   p50 ${result.p50Ms.toFixed(2).padStart(6)} ms   p99 ${result.p99Ms.toFixed(2).padStart(6)} ms   errors ${result.errors}`,
  );
}

async function main(): Promise<void> {
  console.log(`bench:directory on ${describeMachine()}`);
  console.log(`rounds ${ROUNDS} x ${CASE_MS} ms per case; medians reported`);
  const redis = await startRedisServer();
  const admin = new Redis(redis.url);
  const grpcPort = await freePort();
  const directory: Child = await startChild(
    'services/cli/main.ts',
    [
      'directory',
      '--redis-url',
      redis.url,
      '--grpc-port',
      String(grpcPort),
      '--metrics',
      'false',
      '--log-level',
      'info',
      // The load comes from one address playing thousands of peers: lift the per-source bound.
      '--registrations-per-source-per-second',
      '1000000',
      // Loopback only, and the baseline echo speaks plaintext too.
      '--plaintext',
      'true',
    ],
    /directory serving/,
  );
  const echo: Child = await startChild('test/bench/support/echo-server.ts', [], /echo listening on \d+/);
  const echoPort = Number(/(\d+)$/.exec(echo.line)![1]);
  const address = `127.0.0.1:${grpcPort}`;
  const insecure = ChannelCredentials.createInsecure();
  const dirClients = clients(4, (options) => new DirectoryServiceClient(address, insecure, options));
  const echoClients = clients(4, (options) => new Client(`127.0.0.1:${echoPort}`, insecure, options));
  const pick = <T>(list: T[], worker: number) => list[worker % list.length];

  // Fixtures: peers to resolve and renew, and pre-signed records so Register measures the server.
  const peers = Array.from({ length: 256 }, () => generateIdentity());
  const leases: string[] = [];
  for (const [index, peer] of peers.entries()) {
    const response = await unary<{ leaseId: string }>((cb) =>
      dirClients[0].register({ record: recordFor(peer, 1, index), ttlSeconds: 3_600 }, cb),
    );
    leases.push(response.leaseId);
  }
  const resolveAnswer = await unary<ResolveResponse>((cb) =>
    dirClients[0].resolve({ network: NETWORK, target: { $case: 'peerId', value: peers[0].peerId } }, cb),
  );
  const payload = Buffer.from(ResolveResponse.encode(resolveAnswer).finish());
  console.log(`payload: a Resolve answer is ${payload.length} bytes; the echo sends and returns that many`);

  const registerPool = Array.from({ length: 512 }, () => generateIdentity());
  const registerSeq = new Array<number>(registerPool.length).fill(0);
  const presigned: SignedRecord[] = [];
  const presignTarget =
    Math.ceil((ROUNDS * (CASE_MS / 1_000 + 0.5) * 12_000) / registerPool.length) * registerPool.length;
  for (let i = 0; i < presignTarget; i++) {
    const slot = i % registerPool.length;
    presigned.push(recordFor(registerPool[slot], ++registerSeq[slot], 10_000 + slot));
  }
  let nextRecord = 0;

  const cases: Record<string, (worker: number, index: number) => Promise<unknown>> = {
    echo: (worker) =>
      unary((cb) =>
        pick(echoClients, worker).makeUnaryRequest(
          ECHO_METHOD,
          (b: Buffer) => b,
          (b: Buffer) => b,
          payload,
          cb,
        ),
      ),
    resolve: (worker, index) =>
      unary((cb) =>
        pick(dirClients, worker).resolve(
          { network: NETWORK, target: { $case: 'peerId', value: peers[index % peers.length].peerId } },
          cb,
        ),
      ),
    renew: (worker, index) =>
      unary((cb) => pick(dirClients, worker).renew({ leaseId: leases[index % leases.length] }, cb)),
    register: (worker) => {
      // Records of one peer must arrive in seq order; with a pool this large, two workers never
      // hold the same peer's consecutive records at once.
      const record = presigned[nextRecord++ % presigned.length];
      return unary((cb) => pick(dirClients, worker).register({ record, ttlSeconds: 3_600 }, cb));
    },
  };
  const results = new Map<string, LoadResult[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`round ${round}/${ROUNDS}`);
    for (const concurrency of [1, 64]) {
      for (const [name, call] of Object.entries(cases)) {
        if (name === 'register' && presigned.length - nextRecord < CASE_MS * 4) continue;
        const result = await closedLoop({ concurrency, durationMs: concurrency === 1 ? CASE_MS / 2 : CASE_MS }, call);
        const key = `${name} c=${concurrency}`;
        results.set(key, [...(results.get(key) ?? []), result]);
        show(key, result);
      }
    }
  }
  const summary = (key: string): LoadResult => {
    const runs = results.get(key) ?? [];
    return {
      calls: median(runs.map((run) => run.calls)),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      rps: median(runs.map((run) => run.rps)),
      p50Ms: median(runs.map((run) => run.p50Ms)),
      p99Ms: median(runs.map((run) => run.p99Ms)),
    };
  };
  console.log('medians:');
  for (const key of results.keys()) show(key, summary(key));
  const baseline = summary('echo c=64').rps;

  // Watch fan-out: WATCHERS streams, CHANGES_PER_S registrations a second.
  console.log(
    `watch fan-out: ${WATCHERS} watchers, ${CHANGES_PER_S} changes/s for ${WATCH_SECONDS} s after ${WATCH_WARMUP_SECONDS} s of warm-up`,
  );
  // 1,000 watchers share 20 connections here, where each would have its own in the field: give each
  // connection the flow-control window its 50 streams would have had (HTTP/2's 64 KiB each).
  const flowWindow = Number(process.env.BENCH_FLOW_WINDOW ?? Math.ceil(WATCHERS / 20) * 65_535);
  const watchConnections = Array.from({ length: 20 }, () => rawConnection(address, flowWindow));
  const warmupCount = CHANGES_PER_S * WATCH_WARMUP_SECONDS;
  const changeCount = warmupCount + CHANGES_PER_S * WATCH_SECONDS;
  const received = new Array<number>(WATCHERS).fill(0);
  const { revision: startRevision } = await unary<{ revision: number }>((cb) =>
    dirClients[0].list({ network: NETWORK, labelSelector: '', pageSize: 1, pageToken: '' }, cb),
  );
  // Nothing else writes the network meanwhile, so the changes are revisions startRevision + 1,
  // + 2, ...: when each Register started is kept by that offset (NaN until its answer is in), and
  // the lags go to preallocated arrays, so the watchers' bookkeeping costs next to nothing.
  const startedAt = new Float64Array(changeCount).fill(NaN);
  const lags = new Float64Array(WATCHERS * (changeCount - warmupCount));
  let lagCount = 0;
  const warmupLags = new Float64Array(WATCHERS * warmupCount);
  let warmupLagCount = 0;
  const keepLag = (offset: number, lag: number) => {
    if (offset < warmupCount) warmupLags[warmupLagCount++] = lag;
    else lags[lagCount++] = lag;
  };
  const pendingRevisions: number[] = [];
  const pendingTimes: number[] = [];
  const watchCalls = [];
  const revisions: number[] = [];
  let subscribed = 0;
  let messages = 0;
  const watchRequest = Buffer.from([0x0a, NETWORK.length, ...Buffer.from(NETWORK), 0x10, ...varint(startRevision)]);
  for (let w = 0; w < WATCHERS; w++) {
    // A raw stream that reads only each event's revision: the watchers must not be the bottleneck.
    let first = true;
    const call = rawServerStream(watchConnections[w % watchConnections.length], WATCH_PATH, watchRequest, {
      onMessage: (bytes, start, end) => {
        messages++;
        if (first) {
          first = false;
          subscribed++;
        }
        const now = performance.now();
        revisions.length = 0;
        eventRevisions(bytes, start, end, revisions);
        for (const revision of revisions) {
          received[w]++;
          const offset = revision - startRevision - 1;
          const started = startedAt[offset];
          if (started >= 0) keepLag(offset, now - started);
          else {
            // The event overtook the Register answer: its lag is worked out once the answer is in.
            pendingRevisions.push(revision);
            pendingTimes.push(now);
          }
        }
      },
    });
    watchCalls.push(call);
  }
  while (subscribed < WATCHERS) await new Promise((resolve) => setTimeout(resolve, 50));
  // A new peer per change: requests on different connections may overtake each other, and two
  // records of one peer arriving out of seq order would be refused.
  const changeRecords = Array.from({ length: changeCount }, (_, i) => recordFor(generateIdentity(), 1, 50_000 + i));
  const registerLatencies: number[] = [];
  // Register latency by second of the fan-out: a tail from the first seconds (cold code, a backlog
  // draining) reads differently from one spread over the run.
  const registerBySecond = Array.from({ length: WATCH_WARMUP_SECONDS + WATCH_SECONDS + 1 }, () => [] as number[]);
  let registerErrors = 0;
  // CPU the directory and this process spend on the fan-out: what bounds it on a shared machine.
  let messagesBefore = 0;
  let directoryCpuBefore = cpuSeconds(directory.process.pid!);
  let ownCpuBefore = process.cpuUsage();
  const t0 = performance.now();
  let timedFrom = t0;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < changeCount; i++) {
    if (i === warmupCount) {
      messagesBefore = messages;
      directoryCpuBefore = cpuSeconds(directory.process.pid!);
      ownCpuBefore = process.cpuUsage();
      timedFrom = performance.now();
    }
    const due = t0 + (i * 1_000) / CHANGES_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    inflight.push(
      unary<{ revision: number }>((cb) =>
        dirClients[i % dirClients.length].register({ record: changeRecords[i], ttlSeconds: 3_600 }, cb),
      ).then(
        (response) => {
          const offset = response.revision - startRevision - 1;
          if (offset < 0 || offset >= changeCount) {
            throw new Error(`revision ${response.revision} is not one of the run's`);
          }
          startedAt[offset] = sent;
          registerLatencies.push(performance.now() - sent);
          registerBySecond[Math.floor((sent - t0) / 1_000)]?.push(performance.now() - sent);
        },
        // A refused change is counted and reported; its event never comes, so it has no lag.
        () => void registerErrors++,
      ),
    );
  }
  await Promise.all(inflight);
  const drainDeadline = performance.now() + 10_000;
  const expected = changeCount - registerErrors;
  while (received.some((count) => count < expected) && performance.now() < drainDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const watchSeconds = (performance.now() - timedFrom) / 1_000;
  const directoryCpu = cpuSeconds(directory.process.pid!) - directoryCpuBefore;
  const ownCpu = process.cpuUsage(ownCpuBefore);
  for (let i = 0; i < pendingRevisions.length; i++) {
    const offset = pendingRevisions[i] - startRevision - 1;
    const started = startedAt[offset];
    if (started >= 0) keepLag(offset, Math.max(0, pendingTimes[i] - started));
  }
  const sortedLags = lags.subarray(0, lagCount).sort();
  const sortedWarmupLags = warmupLags.subarray(0, warmupLagCount).sort();
  const sortedRegister = Float64Array.from(registerLatencies).sort();
  console.log(
    `  Register while watched: p50 ${percentile(sortedRegister, 50).toFixed(1)} ms, p99 ${percentile(sortedRegister, 99).toFixed(1)} ms; sent over ${((performance.now() - t0) / 1_000).toFixed(1)} s; ${registerErrors} refused`,
  );
  console.log(
    `    p99 by second: ${registerBySecond
      .map((latencies, second) =>
        latencies.length > 0 ? `${second}: ${percentile(Float64Array.from(latencies).sort(), 99).toFixed(0)}` : '',
      )
      .filter(Boolean)
      .join(', ')} ms`,
  );
  const timedMessages = messages - messagesBefore;
  const missing = received.reduce((sum, count) => sum + Math.max(0, expected - count), 0);
  const watchLagP99 = percentile(sortedLags, 99);
  console.log(
    `  delivered ${lagCount} timed events; missing ${missing}; lag p50 ${percentile(sortedLags, 50).toFixed(1)} ms, p99 ${watchLagP99.toFixed(1)} ms (from the Register call's start)`,
  );
  if (warmupLagCount > 0) {
    // Shown beside the timed figure so the cold start stays visible.
    const all = new Float64Array(lagCount + warmupLagCount);
    all.set(sortedLags);
    all.set(sortedWarmupLags, lagCount);
    all.sort();
    console.log(
      `  warm-up's ${warmupLagCount} events: lag p99 ${percentile(sortedWarmupLags, 99).toFixed(1)} ms; all ${all.length} events together: p99 ${percentile(all, 99).toFixed(1)} ms`,
    );
  }
  console.log(
    `  ${timedMessages} messages in the timed part (${(lagCount / timedMessages).toFixed(1)} events each); CPU over those ${watchSeconds.toFixed(1)} s: directory ${directoryCpu.toFixed(1)} s (${((directoryCpu / lagCount) * 1e9).toFixed(0)} ns per delivery), watchers and writer ${((ownCpu.user + ownCpu.system) / 1e6).toFixed(1)} s`,
  );
  for (const call of watchCalls) call.close();
  watchConnections.forEach((session) => session.close());

  // Redis memory per registered peer.
  console.log(`redis memory: registering ${MEMORY_PEERS} peers`);
  await admin.flushall();
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
  const before = await usedMemory();
  const memoryStart = performance.now();
  await closedLoop({ concurrency: 64, durationMs: 3_600_000, warmupMs: 0, calls: MEMORY_PEERS }, (worker, index) =>
    // Distinct peers need distinct keys: a fresh identity per peer, made on the fly.
    unary((cb) =>
      pick(dirClients, worker).register({ record: recordFor(generateIdentity(), 1, index), ttlSeconds: 3_600 }, cb),
    ),
  );
  console.log(`  registered in ${((performance.now() - memoryStart) / 1_000).toFixed(1)} s`);
  const peersStored = await admin.zcard(`gv:{${NETWORK}}:ids`);
  const bytesPerPeer = ((await usedMemory()) - before) / peersStored;
  console.log(`  ${peersStored} peers stored; ${bytesPerPeer.toFixed(0)} bytes of Redis used_memory per peer`);

  dirClients.forEach((client) => client.close());
  echoClients.forEach((client) => client.close());
  await Promise.all([directory.stop(), echo.stop()]);
  admin.disconnect();
  await redis.stop();

  const figures = {
    bench: 'directory',
    baseline_rps: round(baseline, 0),
    resolve_ratio: round(summary('resolve c=64').rps / baseline, 3),
    renew_ratio: round(summary('renew c=64').rps / baseline, 3),
    register_ratio: round(summary('register c=64').rps / baseline, 3),
    resolve_p99_ms: round(summary('resolve c=64').p99Ms, 2),
    watch_lag_p99_ms: round(watchLagP99, 1),
    redis_bytes_per_peer: round(bytesPerPeer, 0),
  };
  console.log(JSON.stringify(figures));
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value > 127) {
    bytes.push((value & 127) | 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

/** Where readVarint has read to in the buffer eventRevisions is reading. */
let readAt = 0;

function readVarint(bytes: Buffer): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[readAt++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 128;
  }
}

/**
 * The revision of each event in an encoded WatchResponse, reading nothing else: the 1,000 watchers
 * share this process, so each event costs a few byte reads and no allocation beyond the result.
 * A WatchEvent is written field by field in number order, so its revision (field 2) follows the
 * type (field 1) at the start of the event.
 */
function eventRevisions(bytes: Buffer, start: number, end: number, revisions: number[]): void {
  readAt = start;
  while (readAt < end) {
    const tag = readVarint(bytes);
    const wireType = tag & 7;
    if (wireType === 0) {
      readVarint(bytes);
      continue;
    }
    if (wireType !== 2) throw new Error(`unexpected wire type ${wireType} in a WatchResponse`);
    const fieldEnd = readVarint(bytes) + readAt;
    if (tag >>> 3 === 1) {
      while (readAt < fieldEnd) {
        const eventTag = readVarint(bytes);
        if (eventTag === 2 << 3) {
          revisions.push(readVarint(bytes));
          break;
        }
        if ((eventTag & 7) !== 0) throw new Error('a WatchEvent does not start with its type and revision');
        readVarint(bytes);
      }
    }
    readAt = fieldEnd;
  }
}

main().then(
  // Exit at once: a cancelled stream or a closing channel must not keep the process (and its CPU) busy.
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
