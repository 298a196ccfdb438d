/**
 * `npm run bench:join`: joins through one introducer, against a real directory on a real
 * redis-server, everything over real gRPC on loopback.
 *
 *   1. Throughput, in interleaved rounds at the same concurrency on the same hosts: Join (each
 *      with a fresh record: the introducer verifies it, dials the host back, registers it,
 *      introduces it) and, as the baseline, bare records-only Handshake calls to the hosts,
 *      which is what a dial-back alone costs. The hosts live in this process and answer both.
 *      Both are raw gRPC calls: a newcomer verifies the sample a Join answers on its own machine.
 *   2. Join to resolvable: sequential joins of fresh records; for each, the time from the Join
 *      call to the first Resolve by id that answers with that record.
 *   3. Crash to DELETE: groups of hosts in child processes join through the introducer; each
 *      group is killed with SIGKILL in turn, and each host's time from the kill to its DELETE on
 *      a Watch is taken. The introducer probes every member each second (memberProbeIntervalMs).
 *
 * First it prints what one Ed25519 signature and verification cost, libsodium's and OpenSSL's.
 * The directory and the introducer run in their own processes. Ends with one JSON line of the
 * figures issue #6 names. Options (environment): BENCH_ROUNDS (5), BENCH_CASE_MS (3000),
 * BENCH_WARMUP_MS (10000), BENCH_CONCURRENCY (32), BENCH_HOSTS (50), BENCH_RESOLVE_JOINS (200),
 * BENCH_CRASH_GROUPS (6), BENCH_GROUP_HOSTS (5).
 */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { DirectoryClient } from '../../services/client/directory-client';
import { generateIdentity, type Identity } from '../../services/common/identity';
import { silentLogger } from '../../services/common/logging';
import { Registry } from '../../services/common/metrics';
import { signRecord, type SignedRecord } from '../../services/common/records';
import { HandshakeIntent, HostServiceClient } from '../../services/gen/grapevine/v1/host';
import { IntroducerServiceClient, type JoinResponse } from '../../services/gen/grapevine/v1/introducer';
import { hostConfig } from '../../services/host/config';
import { startHost, type RunningHost } from '../../services/host/server';
import { freePort } from '../support/free-port';
import { startRedisServer } from '../support/redis-server';
import { cpuSeconds, startChild, type Child } from './support/child';
import { closedLoop, type LoadResult } from './support/load';
import { describeMachine } from './support/machine';
import { measureSignatures } from './support/signatures';
import { median, percentile, round } from './support/stats';

/** Five, so a run's median stands on more than one round that happened to be slow or fast. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CASE_MS = Number(process.env.BENCH_CASE_MS ?? 3_000);
/**
 * Each path runs this long before anything is counted. After half a second the first round of
 * joins ran at about two thirds of the later rounds' rate, at twice their introducer CPU per
 * join (the join path was still cold), so every median of three held one cold round; after 3 s
 * the first round was still the slowest in each of three runs; after 10 s no round trend showed.
 */
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 10_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 50);
const RESOLVE_JOINS = Number(process.env.BENCH_RESOLVE_JOINS ?? 200);
const CRASH_GROUPS = Number(process.env.BENCH_CRASH_GROUPS ?? 6);
const GROUP_HOSTS = Number(process.env.BENCH_GROUP_HOSTS ?? 5);
/** Time between two group kills: each death is detected on its own. */
const KILL_SPACING_MS = 2_000;
/** Members settle into the introducer's share and are probed a few times before the kills. */
const SETTLE_MS = 5_000;
const CRASH_WAIT_MS = 30_000;
const TOKEN = 'bench-join-token';
const NETWORK = 'default';

const TARGETS = { joinRatio: 0.3, resolvableP99Ms: 50, crashToDeleteP99S: 10 } as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface BenchHost {
  readonly host: RunningHost;
  readonly identity: Identity;
}

/**
 * A newer record of the host, adopted by it, as a restarted host presents: a join of it is a real
 * join (verified, dialled back, registered anew), and the host answers the dial-back as itself.
 */
function freshRecord(h: BenchHost): SignedRecord {
  return h.host.reissueRecord();
}

function show(name: string, result: LoadResult): void {
  console.log(
    `  ${name.padEnd(26)} ${result.rps.toFixed(0).padStart(6)} /s   p50 ${result.p50Ms.toFixed(2).padStart(6)} ms   p99 ${result.p99Ms.toFixed(2).padStart(7)} ms   errors ${result.errors}`,
  );
}

async function main(): Promise<void> {
  console.log(`bench:join on ${describeMachine()}`);
  // Each join verifies a record in the introducer and in the directory, and the newcomer signs one.
  const ed = measureSignatures();
  console.log(
    `Ed25519, µs a call (median of 5 rounds): sign ${ed.signUs} (OpenSSL ${ed.opensslSignUs}), verify ${ed.verifyUs} (OpenSSL ${ed.opensslVerifyUs})`,
  );
  const redis = await startRedisServer();
  const directoryPort = await freePort();
  const directoryAddress = `127.0.0.1:${directoryPort}`;
  const directory: Child = await startChild(
    'services/cli/main.ts',
    [
      'directory',
      '--redis-url',
      redis.url,
      '--grpc-port',
      String(directoryPort),
      '--metrics',
      'false',
      '--introducer-token',
      TOKEN,
    ],
    /directory serving/,
  );
  const introducer: Child = await startChild(
    'services/cli/main.ts',
    [
      'introducer',
      '--grpc-port',
      '0',
      '--metrics',
      'false',
      '--profile',
      'local',
      '--directory',
      directoryAddress,
      '--introducer-token',
      TOKEN,
      '--joins-per-source-per-second',
      '1000000',
      '--max-concurrent-dial-backs',
      '10000',
      '--log-level',
      'warn',
    ],
    /^\{"peerId"/,
  );
  const introducerAddress = (JSON.parse(introducer.line) as { address: string }).address;
  console.log(
    `directory and introducer in their own processes; ${HOSTS} hosts in this one; ${ROUNDS} rounds x ${CASE_MS} ms at concurrency ${CONCURRENCY}`,
  );

  const hosts: BenchHost[] = [];
  for (let i = 0; i < HOSTS; i++) {
    const identity = generateIdentity();
    const host = await startHost(
      hostConfig({ grpcPort: 0, appPort: 0, metrics: false, profile: 'local', logLevel: 'silent', plaintext: true }),
      {
        log: silentLogger(),
        registry: new Registry(),
        identity,
      },
    );
    hosts.push({ host, identity });
  }
  const connections = 4;
  // Raw Join calls, as the baseline's Handshakes are raw: the newcomer's check of the sample it
  // gets back runs on the newcomer's machine in the field, not on the introducer's, and here it
  // would take CPU from the introducer and the directory on this machine's two cores.
  const introducerClients = Array.from(
    { length: connections },
    (_, i) =>
      new IntroducerServiceClient(introducerAddress, ChannelCredentials.createInsecure(), {
        'grpc.primary_user_agent': `bench-${i}`,
      }),
  );
  const joinCall = (client: IntroducerServiceClient, record: SignedRecord) =>
    new Promise<JoinResponse>((resolve, reject) =>
      client.join({ record, sampleSize: 0 }, new Metadata(), { deadline: Date.now() + 10_000 }, (error, value) => {
        if (error) reject(error);
        // An admitted newcomer gets at least the introducer's own record back.
        else if (value.sample.length === 0) reject(new Error('Join answered without a sample'));
        else resolve(value);
      }),
    );
  const hostClients = hosts.map((h) => new HostServiceClient(h.host.address, ChannelCredentials.createInsecure()));
  const caller = generateIdentity();
  const callerRecord = signRecord(caller, {
    network: NETWORK,
    name: '',
    addresses: ['127.0.0.1:1'],
    labels: {},
    seq: Date.now(),
    issuedAtMs: Date.now(),
    withdrawn: false,
  });
  const sender = { peerId: caller.peerId, address: '127.0.0.1:1' };
  const handshake = (i: number) =>
    new Promise((resolve, reject) =>
      hostClients[i % HOSTS].handshake(
        { sender, record: callerRecord, intent: HandshakeIntent.HANDSHAKE_INTENT_UNSPECIFIED },
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (error: ServiceError | null, value) => (error ? reject(error) : resolve(value)),
      ),
    );
  const join = (worker: number, i: number) =>
    joinCall(introducerClients[worker % connections], freshRecord(hosts[i % HOSTS]));

  // Warm both paths (connections, JIT) before anything is counted.
  await closedLoop({ concurrency: CONCURRENCY, durationMs: WARMUP_MS }, (_w, i) => handshake(i));
  await closedLoop({ concurrency: CONCURRENCY, durationMs: WARMUP_MS }, join);

  console.log('throughput:');
  const handshakes: LoadResult[] = [];
  const joins: LoadResult[] = [];
  // CPU per call in each process tells which one sets the pace.
  const processes = {
    bench: process.pid,
    introducer: introducer.process.pid!,
    directory: directory.process.pid!,
    redis: redis.pid!,
  };
  const cpuPerCall = async (result: () => Promise<LoadResult>) => {
    const before = Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const r = await result();
    const per = Object.entries(processes)
      .map(([name, pid]) => `${name} ${(((cpuSeconds(pid) - before[name]) * 1_000) / r.calls).toFixed(2)}`)
      .join(', ');
    return { r, per };
  };
  for (let r = 0; r < ROUNDS; r++) {
    const h = await cpuPerCall(() =>
      closedLoop({ concurrency: CONCURRENCY, durationMs: CASE_MS }, (_w, i) => handshake(i)),
    );
    show(`round ${r + 1}: Handshake (baseline)`, h.r);
    console.log(`      CPU ms per call: ${h.per}`);
    const j = await cpuPerCall(() => closedLoop({ concurrency: CONCURRENCY, durationMs: CASE_MS }, join));
    show(`round ${r + 1}: Join`, j.r);
    console.log(`      CPU ms per call: ${j.per}`);
    handshakes.push(h.r);
    joins.push(j.r);
  }
  const baselineRps = median(handshakes.map((h) => h.rps));
  const joinRps = median(joins.map((j) => j.rps));
  const joinRatio = joinRps / baselineRps;
  console.log(
    `  medians: Handshake ${baselineRps.toFixed(0)}/s, Join ${joinRps.toFixed(0)}/s (p50 ${median(joins.map((j) => j.p50Ms)).toFixed(2)} ms); ratio ${joinRatio.toFixed(3)}   target >= ${TARGETS.joinRatio}: ${joinRatio >= TARGETS.joinRatio ? 'met' : 'MISSED'}`,
  );

  // ---- Join to resolvable --------------------------------------------------------------------------
  const dir = new DirectoryClient(directoryAddress, {
    deadlineMs: 5_000,
    credentials: ChannelCredentials.createInsecure(),
  });
  const resolvable: number[] = [];
  for (let i = 0; i < RESOLVE_JOINS; i++) {
    const h = hosts[i % HOSTS];
    const record = freshRecord(h);
    const started = performance.now();
    await joinCall(introducerClients[0], record);
    for (;;) {
      try {
        const peer = await dir.resolve(NETWORK, { peerId: h.identity.peerId });
        if (Buffer.from(peer.signed.signature).equals(record.signature)) break;
      } catch {
        // not yet
      }
    }
    resolvable.push(performance.now() - started);
  }
  resolvable.sort((a, b) => a - b);
  const resolvableP50 = percentile(resolvable, 50);
  const resolvableP99 = percentile(resolvable, 99);
  console.log(
    `join to resolvable (${RESOLVE_JOINS} sequential joins, Join call to the first Resolve answering with the record): p50 ${resolvableP50.toFixed(2)} ms, p99 ${resolvableP99.toFixed(2)} ms   target p99 <= ${TARGETS.resolvableP99Ms} ms: ${resolvableP99 <= TARGETS.resolvableP99Ms ? 'met' : 'MISSED'}`,
  );

  // ---- crash to DELETE -------------------------------------------------------------------------------
  // Only the crash groups' hosts should be probed now: stop the throughput hosts first.
  await Promise.all(hosts.map((h) => h.host.stop()));
  const groups: { child: Child; ids: string[] }[] = [];
  for (let g = 0; g < CRASH_GROUPS; g++) {
    const child = await startChild(
      'test/bench/support/host-group.ts',
      [String(GROUP_HOSTS), introducerAddress, directoryAddress],
      /^hosts /,
      60_000,
    );
    groups.push({ child, ids: JSON.parse(child.line.slice('hosts '.length)) as string[] });
  }
  const watching = new AbortController();
  const deletedAt = new Map<string, { at: number; reason: string }>();
  const watch = (async () => {
    for await (const change of dir.watch(NETWORK, { signal: watching.signal })) {
      if (change.type === 'delete') deletedAt.set(change.peerId, { at: performance.now(), reason: change.reason });
    }
  })().catch(() => undefined);
  const everyId = groups.flatMap((g) => g.ids);
  for (;;) {
    const listed = new Set((await dir.listAll(NETWORK)).peers.map((p) => p.record.peerId));
    if (everyId.every((id) => listed.has(id))) break;
    await sleep(200);
  }
  await sleep(SETTLE_MS);
  const killedAt = new Map<string, number>();
  for (const group of groups) {
    const at = performance.now();
    group.child.process.kill('SIGKILL');
    for (const id of group.ids) killedAt.set(id, at);
    await sleep(KILL_SPACING_MS);
  }
  const until = performance.now() + CRASH_WAIT_MS;
  while (performance.now() < until && everyId.some((id) => !deletedAt.has(id))) await sleep(100);
  watching.abort();
  await watch;
  const crashSeconds = everyId
    .filter((id) => deletedAt.has(id))
    .map((id) => (deletedAt.get(id)!.at - killedAt.get(id)!) / 1_000)
    .sort((a, b) => a - b);
  const missing = everyId.length - crashSeconds.length;
  const reasons = new Set([...deletedAt.values()].map((d) => d.reason));
  const crashP50 = percentile(crashSeconds, 50);
  const crashP99 = missing > 0 ? Infinity : percentile(crashSeconds, 99);
  console.log(
    `crash to DELETE (${everyId.length} hosts in ${CRASH_GROUPS} processes killed ${KILL_SPACING_MS} ms apart; reasons: ${[...reasons].join(', ')}): p50 ${crashP50.toFixed(2)} s, p99 ${crashP99.toFixed(2)} s, max ${crashSeconds[crashSeconds.length - 1]?.toFixed(2)} s, ${missing} not deleted within ${CRASH_WAIT_MS / 1_000} s   target p99 <= ${TARGETS.crashToDeleteP99S} s: ${crashP99 <= TARGETS.crashToDeleteP99S ? 'met' : 'MISSED'}`,
  );

  introducerClients.forEach((c) => c.close());
  hostClients.forEach((c) => c.close());
  dir.close();
  await introducer.stop();
  await directory.stop();
  await redis.stop();
  console.log(`done; now ${describeMachine()}`);
  console.log(
    JSON.stringify({
      bench: 'join',
      join_rps: round(joinRps, 1),
      join_ratio: round(joinRatio, 3),
      resolvable_p99_ms: round(resolvableP99, 2),
      crash_to_delete_p99_s: round(crashP99, 2),
    }),
  );
  process.exit(0);
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
