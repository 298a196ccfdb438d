/**
 * `npm run bench:directory`: the Directory against a real redis-server over real gRPC on loopback.
 *
 * In one run: a bare grpc-js unary echo (the baseline, same payload size as a Resolve answer),
 * then Resolve, Renew and Register at concurrency 1 and 64, interleaved over several rounds and
 * reported as medians; a watch fan-out (1,000 watchers, 500 changes/s); and Redis memory per
 * registered peer at 100,000 peers. Servers run in their own processes; the load comes from this
 * one. Ends with one JSON line of the figures issue #3 names.
 */
import { ChannelCredentials, Client, ServiceError } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Redis } from 'ioredis';
import { DirectoryServiceClient, ResolveResponse } from '../../services/gen/grapevine/v1/directory';
import { Identity, generateIdentity } from '../../services/common/identity';
import { SignedRecord, signRecord } from '../../services/common/records';
import { freePort } from '../support/free-port';
import { startRedisServer } from '../support/redis-server';
import { Child, startChild } from './support/child';
import { LoadResult, closedLoop } from './support/load';
import { describeMachine } from './support/machine';
import { median, percentile, round } from './support/stats';
import { ECHO_METHOD } from './support/echo-server';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CASE_MS = Number(process.env.BENCH_CASE_MS ?? 3_000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1_000);
const CHANGES_PER_S = Number(process.env.BENCH_CHANGES_PER_S ?? 500);
const WATCH_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 10);
const MEMORY_PEERS = Number(process.env.BENCH_MEMORY_PEERS ?? 100_000);
const NETWORK = 'bench';

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
  console.log(`watch fan-out: ${WATCHERS} watchers, ${CHANGES_PER_S} changes/s for ${WATCH_SECONDS} s`);
  const watchClients = clients(20, (options) => new DirectoryServiceClient(address, insecure, options));
  const startedAt = new Map<number, number>();
  const lags: number[] = [];
  const pendingArrivals: [number, number][] = [];
  const received = new Array<number>(WATCHERS).fill(0);
  const { revision: startRevision } = await unary<{ revision: number }>((cb) =>
    dirClients[0].list({ network: NETWORK, labelSelector: '', pageSize: 1, pageToken: '' }, cb),
  );
  const watchCalls = [];
  let subscribed = 0;
  for (let w = 0; w < WATCHERS; w++) {
    // A raw stream that reads only each event's revision: the watchers must not be the bottleneck.
    const client = watchClients[w % watchClients.length];
    const call = (client as unknown as Client).makeServerStreamRequest(
      '/grapevine.v1.DirectoryService/Watch',
      (request: Buffer) => request,
      (bytes: Buffer) => bytes,
      Buffer.from([0x0a, NETWORK.length, ...Buffer.from(NETWORK), 0x10, ...varint(startRevision)]),
    );
    let first = true;
    call.on('data', (bytes: Buffer) => {
      if (first) {
        first = false;
        subscribed++;
      }
      const now = performance.now();
      for (const revision of eventRevisions(bytes)) {
        received[w]++;
        const started = startedAt.get(revision);
        if (started === undefined) pendingArrivals.push([revision, now]);
        else lags.push(now - started);
      }
    });
    call.on('error', () => undefined);
    watchCalls.push(call);
  }
  while (subscribed < WATCHERS) await new Promise((resolve) => setTimeout(resolve, 50));
  const changeCount = CHANGES_PER_S * WATCH_SECONDS;
  // A new peer per change: requests on different connections may overtake each other, and two
  // records of one peer arriving out of seq order would be refused.
  const changeRecords = Array.from({ length: changeCount }, (_, i) => recordFor(generateIdentity(), 1, 50_000 + i));
  const registerLatencies: number[] = [];
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < changeCount; i++) {
    const due = t0 + (i * 1_000) / CHANGES_PER_S;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sent = performance.now();
    inflight.push(
      unary<{ revision: number }>((cb) =>
        dirClients[i % dirClients.length].register({ record: changeRecords[i], ttlSeconds: 3_600 }, cb),
      ).then((response) => {
        startedAt.set(response.revision, sent);
        registerLatencies.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(inflight);
  const drainDeadline = performance.now() + 10_000;
  while (received.some((count) => count < changeCount) && performance.now() < drainDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const [revision, arrival] of pendingArrivals) {
    const started = startedAt.get(revision);
    if (started !== undefined) lags.push(Math.max(0, arrival - started));
  }
  const sortedLags = Float64Array.from(lags).sort();
  const sortedRegister = Float64Array.from(registerLatencies).sort();
  console.log(
    `  Register while watched: p50 ${percentile(sortedRegister, 50).toFixed(1)} ms, p99 ${percentile(sortedRegister, 99).toFixed(1)} ms; sent over ${((performance.now() - t0) / 1_000).toFixed(1)} s`,
  );
  const missing = received.reduce((sum, count) => sum + Math.max(0, changeCount - count), 0);
  const watchLagP99 = percentile(sortedLags, 99);
  console.log(
    `  delivered ${lags.length} events; missing ${missing}; lag p50 ${percentile(sortedLags, 50).toFixed(1)} ms, p99 ${watchLagP99.toFixed(1)} ms (from the Register call's start)`,
  );
  for (const call of watchCalls) call.cancel();
  watchClients.forEach((client) => client.close());

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

/** The revision of each event in an encoded WatchResponse, reading nothing else. */
function eventRevisions(bytes: Buffer): number[] {
  const revisions: number[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field !== 1) {
      reader.skip(wireType);
      continue;
    }
    const event = new BinaryReader(reader.bytes());
    while (event.pos < event.len) {
      const [eventField, eventWire] = event.tag();
      if (eventField === 2) {
        revisions.push(Number(event.uint64()));
        break;
      }
      event.skip(eventWire);
    }
  }
  return revisions;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
