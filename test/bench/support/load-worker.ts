/**
 * One load process of `npm run bench:load`, driven over IPC by test/bench/load.ts: simulated hosts
 * (cheap clients: a signed record and a lease each, no membership core; test/faults/support/
 * cheap-hosts.ts) registering, renewing and churning; watchers that list then watch and keep a
 * view of the network; and an open-loop stream of Resolve calls (the bench gives those a process
 * of their own, with no hosts or watchers). Every call prefers one directory replica and makes the
 * same call once on the other when the first cannot answer.
 *
 *   parent → worker: { type: 'start', config }, { type: 'quiesce' }, { type: 'progress' },
 *                    { type: 'final', listed }
 *   worker → parent: { type: 'ready', peerIds }, { type: 'quiesced' }, { type: 'progress', minRevision },
 *                    { type: 'report', ... }
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ChannelCredentials, Metadata, ServiceError, status, type ClientReadableStream } from '@grpc/grpc-js';
import {
  DirectoryServiceClient,
  ListResponse,
  ResolveRequest,
  WatchEvent_Type,
  WatchRequest,
} from '../../../services/gen/grapevine/v1/directory';
import { PeerRecord } from '../../../services/gen/grapevine/v1/record';
import { RawChannel, rawUnary } from './raw-stream';
import { ECHO_METHOD } from './echo-server';
import { CheapFleet, type FleetStats } from '../../faults/support/cheap-hosts';
import { REPLICA_CHANNEL_OPTIONS, RETRY_ELSEWHERE } from '../../faults/support/failover';
import { FAILED_OUTCOME, NOT_FOUND_OUTCOME, OK_OUTCOME } from './resolve-outcome';
import { sumCounts } from './stats';

export interface WorkerConfig {
  readonly index: number;
  readonly replicas: readonly string[];
  readonly network: string;
  readonly hosts: number;
  readonly ttlSeconds: number;
  readonly watchers: number;
  readonly resolvesPerSecond: number;
  /** The peers the Resolve calls ask for; this process's own simulated hosts when absent. */
  readonly resolveTargets?: readonly string[];
  /** Hosts that leave (a DELETE) and come back 2 s later with a newer record (a PUT), per second. */
  readonly churnPerSecond: number;
  /**
   * The baseline beside the lookups: calls a second, from the same open loop, to a bare gRPC echo
   * server at `address`, each carrying `bytes` each way. What this process and the machine alone
   * add to any answer's time.
   */
  readonly floor?: { readonly address: string; readonly perSecond: number; readonly bytes: number };
}

export interface WorkerReport {
  readonly type: 'report';
  readonly index: number;
  readonly liveIds: string[];
  readonly fleet: Omit<FleetStats, 'tally'> & { failedCalls: Record<string, number>; fixedByRetry: number };
  /**
   * Per Resolve: start (ms since the epoch), latency (ms), outcome (see resolve-outcome.ts).
   */
  readonly resolveStarts: Float64Array;
  readonly resolveLatencies: Float64Array;
  readonly resolveOutcomes: Uint8Array;
  readonly resolveRetried: number;
  /** Resolves not issued because MAX_RESOLVES_IN_FLIGHT were outstanding: the load process fell behind. */
  readonly resolveShed: number;
  /** Per echo call of the floor that answered OK: start (ms since the epoch) and latency (ms). */
  readonly floorStarts: Float64Array;
  readonly floorLatencies: Float64Array;
  /** Echo calls of the floor that did not answer OK (left out of its figures). */
  readonly floorFailed: number;
  /** Per watcher: entries that differ from the final directory state (missing, extra, other revision). */
  readonly watcherDiffs: number[];
  /** The same, by kind, over every watcher, and a few examples. */
  readonly diffKinds: { missing: number; extra: number; otherRevision: number; examples: string[] };
  readonly relists: number;
  readonly failovers: number;
  /** Times a watcher went back to its preferred replica. */
  readonly failbacks: number;
  /** Why watchers' streams ended, other than to go back: by status name, and failed lists. */
  readonly streamEnds: Record<string, number>;
  /** Watchers on another replica than their preferred one when the report was made. */
  readonly awayAtEnd: number;
  /**
   * Watch calls the watchers had started and not yet seen a status for, by replica, when the
   * report was made: against the replica's own count, it tells whose side holds a stream.
   */
  readonly watchCallsOpen: number[];
  readonly watchEvents: number;
  /** This process's event-loop delay over the soak (ms): a Resolve's answer waits that long to be read. */
  readonly loopDelayP99Ms: number;
  readonly loopDelayMaxMs: number;
}

type Listed = Record<string, number>;
type Message =
  | { type: 'start'; config: WorkerConfig }
  | { type: 'quiesce' }
  | { type: 'progress' }
  | { type: 'final'; listed: Listed };

const LIST_PAGE_SIZE = 1_000;
/**
 * Connections per replica for Resolve calls, and watch streams per connection. Watches get
 * connections of their own: a watch stream that is read late fills its connection's flow-control
 * window, and every call sharing that connection would wait behind it.
 */
const CONNECTIONS_PER_REPLICA = 4;
const WATCHES_PER_CONNECTION = 10;
const CALL_DEADLINE_MS = 3_000;
const REJOIN_AFTER_MS = 2_000;
/** A watcher that moved off its preferred replica resumes there again after this long. */
const FAILBACK_MS = 15_000;
/**
 * Resolves outstanding at once, at most; past it the open loop skips calls and counts them. An
 * open loop that outruns its target piles up calls without bound, and runs out of memory.
 */
const MAX_RESOLVES_IN_FLIGHT = 2_000;
const RESOLVE_PATH = '/grapevine.v1.DirectoryService/Resolve';
const WATCH_PATH = '/grapevine.v1.DirectoryService/Watch';
const raw = (bytes: Buffer) => bytes;

/** What a watcher needs of a WatchResponse, read straight from its bytes: no record is copied. */
interface RawEvent {
  readonly type: number;
  readonly revision: number;
  readonly peerId: string;
}

function decodeWatchResponse(bytes: Uint8Array): { events: RawEvent[]; revision: number } {
  const events: RawEvent[] = [];
  let revision = 0;
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) {
      const event = new BinaryReader(reader.bytes());
      let type = 0;
      let eventRevision = 0;
      let peerId = '';
      while (event.pos < event.len) {
        const [f, w] = event.tag();
        if (f === 1) type = event.int32();
        else if (f === 2) eventRevision = Number(event.uint64());
        else if (f === 3) peerId = event.string();
        else event.skip(w);
      }
      events.push({ type, revision: eventRevision, peerId });
    } else if (field === 2) {
      revision = Number(reader.uint64());
    } else {
      reader.skip(wireType);
    }
  }
  return { events, revision };
}

const insecure = ChannelCredentials.createInsecure();

/** A growable column of numbers. */
class Column<T extends Float64Array | Uint8Array> {
  length = 0;
  constructor(
    private data: T,
    private readonly make: (n: number) => T,
  ) {}
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  values(): T {
    return this.data.subarray(0, this.length) as T;
  }
}

/**
 * A list-then-watch view of one network, as a client that must miss nothing keeps it: list
 * (every page), watch from the first page's revision skipping events a peer's entry already
 * reflects, resume from the last revision on the other replica when a stream fails, list again
 * on OUT_OF_RANGE (the log no longer reaches back, or the store was flushed). Like every client
 * of the bench it prefers one replica: FAILBACK_MS after moving off it, it resumes there again,
 * so a replica's restart does not leave the other holding every stream to the end.
 */
class Watcher {
  readonly view = new Map<string, number>();
  private listedAt = new Map<string, number>();
  after: number | undefined;
  private call: ClientReadableStream<Buffer> | undefined;
  private stopped = false;
  relists = 0;
  failovers = 0;
  failbacks = 0;
  /** Watch calls started and not yet ended with a status, by replica. */
  readonly openCalls: number[];
  readonly ends: Record<string, number> = {};
  private failingBack = false;
  private failbackTimer: NodeJS.Timeout | undefined;
  events = 0;
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    private readonly clients: DirectoryServiceClient[],
    private readonly preferred: number,
    private readonly network: string,
    private replica = preferred,
  ) {
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    this.openCalls = clients.map(() => 0);
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.failbackTimer);
    this.call?.cancel();
  }

  /** On another replica than the preferred one: go back to it after a while. */
  private moved(): void {
    clearTimeout(this.failbackTimer);
    if (this.replica === this.preferred) return;
    this.failbackTimer = setTimeout(() => {
      this.failingBack = true;
      this.call?.cancel();
    }, FAILBACK_MS);
  }

  private ended(why: string): void {
    this.ends[why] = (this.ends[why] ?? 0) + 1;
  }

  get away(): boolean {
    return this.replica !== this.preferred;
  }

  /** Resumes on the preferred replica, from the same revision. */
  private failBack(): void {
    this.failingBack = false;
    this.replica = this.preferred;
    this.failbacks++;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.after === undefined) await this.list();
        this.markReady();
        // The time to go back came between two streams: go back before starting one, never start
        // one only to cancel it. grpc-js (1.14.7) sends a call cancelled in the tick it was made
        // on a connected channel anyway, and never cancels it on the server (a stream held open
        // there until the connection closes).
        if (this.failingBack) this.failBack();
        const code = await this.watch();
        if (this.stopped) return;
        if (this.failingBack) {
          // Cancelled by the failback timer.
          this.failBack();
          continue;
        }
        this.ended(status[code]);
        // The stream lived its time (watchMaxLifetimeMs): resume on the same replica.
        if (code === status.OK) continue;
        if (code === status.OUT_OF_RANGE) {
          this.after = undefined;
          this.relists++;
        } else {
          // The replica went away or cut the stream: resume on the other one.
          this.replica = (this.replica + 1) % this.clients.length;
          this.failovers++;
          this.moved();
          await sleep(100);
        }
      } catch {
        this.ended('list failed');
        this.replica = (this.replica + 1) % this.clients.length;
        this.failovers++;
        this.moved();
        await sleep(200);
      }
    }
  }

  private async list(): Promise<void> {
    const client = this.clients[this.replica]!;
    const fresh = new Map<string, number>();
    let pageToken = '';
    let revision: number | undefined;
    do {
      const page = await new Promise<ListResponse>((resolve, reject) =>
        client.list(
          { network: this.network, labelSelector: '', pageSize: LIST_PAGE_SIZE, pageToken },
          new Metadata(),
          { deadline: Date.now() + 10_000 },
          (error: ServiceError | null, response?: ListResponse) => (error ? reject(error) : resolve(response!)),
        ),
      );
      revision ??= page.revision;
      for (const entry of page.peers) {
        const peerId = PeerRecord.decode(entry.record!.record).peerId;
        fresh.set(peerId, entry.revision);
      }
      pageToken = page.nextPageToken;
    } while (pageToken);
    this.view.clear();
    for (const [peerId, r] of fresh) this.view.set(peerId, r);
    this.listedAt = fresh;
    this.after = revision;
  }

  /** Resolves with the status code the stream ended with. */
  private watch(): Promise<number> {
    const client = this.clients[this.replica]!;
    return new Promise((resolve) => {
      const request = Buffer.from(
        WatchRequest.encode({ network: this.network, fromRevision: this.after ?? 0 }).finish(),
      );
      const call = client.makeServerStreamRequest(WATCH_PATH, raw, raw, request) as ClientReadableStream<Buffer>;
      this.call = call;
      const replica = this.replica;
      this.openCalls[replica]!++;
      call.on('status', () => this.openCalls[replica]!--);
      call.on('data', (bytes: Buffer) => {
        const response = decodeWatchResponse(bytes);
        for (const event of response.events) {
          if (this.after !== undefined && event.revision <= this.after) continue;
          this.after = event.revision;
          const listed = this.listedAt.get(event.peerId);
          if (listed !== undefined && event.revision <= listed) continue;
          this.events++;
          if (event.type === WatchEvent_Type.TYPE_DELETE) this.view.delete(event.peerId);
          else this.view.set(event.peerId, event.revision);
        }
        if (response.events.length === 0 && (this.after === undefined || response.revision > this.after)) {
          this.after = response.revision;
        }
      });
      call.on('error', (error: ServiceError) => resolve(error.code));
      // A failed call emits 'error' first; 'end' alone is the directory ending the stream (OK).
      call.on('end', () => resolve(status.OK));
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  // The load must not be what sets the pace. Under tsx every Error's stack is mapped through source
  // maps, which makes each failed call (a deadline, a replica gone) cost a millisecond or more:
  // the very moments the bench measures would slow the load down. Stacks are not needed here.
  process.setSourceMapsEnabled(false);
  Error.stackTraceLimit = 0;
  let fleet: CheapFleet | undefined;
  let config: WorkerConfig | undefined;
  const watchers: Watcher[] = [];
  const starts = new Column(new Float64Array(1 << 16), (n) => new Float64Array(n));
  const latencies = new Column(new Float64Array(1 << 16), (n) => new Float64Array(n));
  const outcomes = new Column(new Uint8Array(1 << 16), (n) => new Uint8Array(n));
  let resolveRetried = 0;
  let resolveTimer: NodeJS.Timeout | undefined;
  let churnTimer: NodeJS.Timeout | undefined;
  const rejoins = new Set<Promise<void>>();
  let resolveChannels: RawChannel[][] = [];
  let watchClients: DirectoryServiceClient[][] = [];

  let resolveShed = 0;
  let resolvesInFlight = 0;
  let resolveTargets: readonly string[] = [];
  let floorChannel: RawChannel | undefined;
  let floorFailed = 0;
  const floorStarts = new Column(new Float64Array(1 << 12), (n) => new Float64Array(n));
  const floorLatencies = new Column(new Float64Array(1 << 12), (n) => new Float64Array(n));
  const loopDelay = monitorEventLoopDelay({ resolution: 5 });
  /**
   * A Resolve as a raw gRPC call (support/raw-stream.ts), its answer left undecoded: the load
   * process must not be what sets the pace. Through grpc-js these calls cost the two processes a
   * fifth more CPU and stalls of up to half a second, which every answer then waiting to be read
   * counted as the directory's latency.
   */
  const resolveOnce = (channel: RawChannel, peerId: string) =>
    rawUnary(
      channel,
      RESOLVE_PATH,
      Buffer.from(
        ResolveRequest.encode({ network: config!.network, target: { $case: 'peerId', value: peerId } }).finish(),
      ),
      CALL_DEADLINE_MS,
    );

  async function resolve(n: number): Promise<void> {
    if (resolvesInFlight >= MAX_RESOLVES_IN_FLIGHT) {
      resolveShed++;
      return;
    }
    resolvesInFlight++;
    const peerId = resolveTargets[Math.floor(Math.random() * resolveTargets.length)]!;
    const first = n % resolveChannels.length;
    const connection = Math.floor(n / resolveChannels.length) % CONNECTIONS_PER_REPLICA;
    const startedAt = Date.now();
    const t0 = performance.now();
    let outcome = FAILED_OUTCOME;
    for (let attempt = 0; attempt < 2; attempt++) {
      const replica = resolveChannels[(first + attempt) % resolveChannels.length]!;
      const code = await resolveOnce(replica[connection]!, peerId);
      if (code === status.OK || code === status.NOT_FOUND) {
        outcome = code === status.OK ? OK_OUTCOME : NOT_FOUND_OUTCOME;
        break;
      }
      outcome = FAILED_OUTCOME + code;
      if (!RETRY_ELSEWHERE.has(code)) break;
      resolveRetried++;
    }
    resolvesInFlight--;
    starts.push(startedAt);
    latencies.push(performance.now() - t0);
    outcomes.push(outcome);
  }

  async function echo(channel: RawChannel, request: Buffer): Promise<void> {
    const startedAt = Date.now();
    const t0 = performance.now();
    if ((await rawUnary(channel, ECHO_METHOD, request, CALL_DEADLINE_MS)) !== status.OK) {
      floorFailed++;
      return;
    }
    floorStarts.push(startedAt);
    floorLatencies.push(performance.now() - t0);
  }

  process.on('message', (message: Message) => {
    void (async () => {
      if (message.type === 'start') {
        config = message.config;
        const c = config;
        const make = (kind: string, count: number) =>
          c.replicas.map((address) =>
            Array.from(
              { length: count },
              (_, i) =>
                new DirectoryServiceClient(address, insecure, {
                  ...REPLICA_CHANNEL_OPTIONS,
                  // Clients with different options get connections of their own.
                  'grpc.primary_user_agent': `load-${kind}-${c.index}-${i}`,
                  'grpc.max_receive_message_length': 16 * 1024 * 1024,
                }),
            ),
          );
        resolveChannels = c.replicas.map((address) =>
          Array.from({ length: CONNECTIONS_PER_REPLICA }, () => new RawChannel(address)),
        );
        const watchConnections = Math.max(1, Math.ceil(c.watchers / c.replicas.length / WATCHES_PER_CONNECTION));
        watchClients = make('watch', watchConnections);
        fleet = new CheapFleet({
          replicas: c.replicas,
          count: c.hosts,
          network: c.network,
          ttlSeconds: c.ttlSeconds,
          connectionsPerReplica: 2,
          fleetIndex: c.index,
        });
        await fleet.start();
        resolveTargets = c.resolveTargets ?? fleet.hosts.map((host) => host.peerId);
        for (let w = 0; w < c.watchers; w++) {
          const replica = w % c.replicas.length;
          const clients = watchClients.map((perReplica) => perReplica[Math.floor(w / 2) % perReplica.length]!);
          const watcher = new Watcher(clients, replica, c.network);
          watchers.push(watcher);
          watcher.start();
        }
        await Promise.all(watchers.map((w) => w.ready));
        // Open loop: a tick every 10 ms issues what the rate asks for, whatever the answers take.
        let issued = 0;
        const began = performance.now();
        let echoed = 0;
        const floor = c.floor;
        const floorRequest = Buffer.alloc(floor?.bytes ?? 0, 1);
        if (floor) floorChannel = new RawChannel(floor.address);
        if (c.resolvesPerSecond > 0)
          resolveTimer = setInterval(() => {
            const elapsedS = (performance.now() - began) / 1_000;
            const due = Math.floor(elapsedS * c.resolvesPerSecond);
            while (issued < due) void resolve(issued++);
            if (!floor) return;
            const echoesDue = Math.floor(elapsedS * floor.perSecond);
            for (; echoed < echoesDue; echoed++) void echo(floorChannel!, floorRequest);
          }, 10);
        if (c.churnPerSecond > 0) {
          churnTimer = setInterval(() => {
            const live = fleet!.hosts.filter((h) => h.live);
            const host = live[Math.floor(Math.random() * live.length)];
            if (!host) return;
            const done = fleet!
              .leave(host)
              .then(() => sleep(REJOIN_AFTER_MS))
              .then(() => fleet!.rejoin(host));
            rejoins.add(done);
            void done.finally(() => rejoins.delete(done));
          }, 1_000 / c.churnPerSecond);
        }
        loopDelay.enable();
        process.send!({ type: 'ready', peerIds: fleet.hosts.map((host) => host.peerId) });
      } else if (message.type === 'quiesce') {
        loopDelay.disable();
        if (churnTimer) clearInterval(churnTimer);
        if (resolveTimer) clearInterval(resolveTimer);
        await Promise.all([...rejoins]);
        process.send!({ type: 'quiesced' });
      } else if (message.type === 'progress') {
        const minRevision = Math.min(...watchers.map((w) => w.after ?? 0));
        process.send!({ type: 'progress', minRevision });
      } else if (message.type === 'final') {
        const listed = new Map(Object.entries(message.listed));
        const diffKinds = { missing: 0, extra: 0, otherRevision: 0, examples: [] as string[] };
        const watcherDiffs = watchers.map((w, index) => {
          let diff = 0;
          const note = (kind: 'missing' | 'extra' | 'otherRevision', text: string) => {
            diff++;
            diffKinds[kind]++;
            if (diffKinds.examples.length < 10)
              diffKinds.examples.push(`watcher ${config!.index}/${index} (at ${w.after}): ${text}`);
          };
          for (const [peerId, revision] of listed) {
            const held = w.view.get(peerId);
            if (held === undefined) note('missing', `${peerId} listed at ${revision}, not in the view`);
            else if (held !== revision) note('otherRevision', `${peerId} listed at ${revision}, held at ${held}`);
          }
          for (const [peerId, held] of w.view)
            if (!listed.has(peerId)) note('extra', `${peerId} held at ${held}, not listed`);
          return diff;
        });
        const watchCallsOpen = watchClients.map((_, replica) =>
          watchers.reduce((sum, w) => sum + w.openCalls[replica]!, 0),
        );
        watchers.forEach((w) => w.stop());
        const stats = fleet!.stats();
        const report: WorkerReport = {
          type: 'report',
          index: config!.index,
          liveIds: fleet!.liveIds(),
          fleet: {
            startedAt: stats.startedAt,
            registrations: stats.registrations,
            renewals: stats.renewals,
            leasesLost: stats.leasesLost,
            deregistrations: stats.deregistrations,
            renewalsBySecond: stats.renewalsBySecond,
            restoreMs: stats.restoreMs,
            failedCalls: Object.fromEntries(stats.tally.failed),
            fixedByRetry: stats.tally.fixedByRetry,
          },
          resolveStarts: starts.values(),
          resolveLatencies: latencies.values(),
          resolveOutcomes: outcomes.values(),
          resolveRetried,
          resolveShed,
          floorStarts: floorStarts.values(),
          floorLatencies: floorLatencies.values(),
          floorFailed,
          watcherDiffs,
          diffKinds,
          relists: watchers.reduce((sum, w) => sum + w.relists, 0),
          failovers: watchers.reduce((sum, w) => sum + w.failovers, 0),
          failbacks: watchers.reduce((sum, w) => sum + w.failbacks, 0),
          awayAtEnd: watchers.filter((w) => w.away).length,
          watchCallsOpen,
          streamEnds: sumCounts(watchers.map((w) => w.ends)),
          watchEvents: watchers.reduce((sum, w) => sum + w.events, 0),
          loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
          loopDelayMaxMs: loopDelay.max / 1e6,
        };
        process.send!(report, () => {
          fleet!.stop();
          resolveChannels.flat().forEach((channel) => channel.close());
          floorChannel?.close();
          watchClients.flat().forEach((client) => client.close());
          process.exit(0);
        });
      }
    })().catch((error: unknown) => {
      process.stderr.write(`load worker: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    });
  });
}

void main();
