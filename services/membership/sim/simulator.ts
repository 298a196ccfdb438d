/**
 * The simulator: thousands of membership nodes in one process over a simulated network, on a
 * virtual clock, driven by a seeded random source. It calls the very same MembershipNode methods
 * a real transport calls, so its figures are the protocol's figures.
 *
 * Time is in virtual milliseconds. Three queues drive it: messages in flight (a binary heap by
 * arrival time), one wake-up per node (an indexed heap, so a re-armed timer costs a sift), and the
 * timeline of faults and measurements. The earliest event of the three runs next; ties run in the
 * order they were scheduled, so the same seed gives the same run.
 */
import { PROFILES, type ConfigOverrides, type MembershipConfig } from '../config';
import { messageBytes, MESSAGE_TYPES, type Message, type MessageType, type Outgoing } from '../messages';
import { MembershipNode, type Effects, type MembershipEvent } from '../node';
import type { Transport } from '../transport';
import { createRng, type Sfc32 } from '../rng';
import { EventHeap, WakeHeap } from './event-queue';
import { latencySampler, type LatencySampler } from './latency';
import type { Scenario, TimelineEvent } from './scenario';
import { simRecord, verifySimRecord, type SimRecordBlob } from './sim-records';

export interface SlowSpec {
  readonly stallProbability: number;
  readonly maxStallMs: number;
  readonly tickMs: number;
}

export interface SimNode {
  readonly index: number;
  readonly id: string;
  readonly address: string;
  node: MembershipNode | null;
  up: boolean;
  joined: boolean;
  seq: number;
  restarts: number;
  record: SimRecordBlob;
  slow: SlowSpec | null;
  stallUntil: number;
  deferred: Delivery[] | null;
  side: number;
  readonly rng: Sfc32;
  /** This node's end of the simulated network. */
  readonly transport: Transport;
}

interface Delivery {
  readonly to: number;
  readonly message: Message;
}

type Control =
  | { readonly kind: 'timeline'; readonly event: TimelineEvent }
  | { readonly kind: 'join'; readonly node: number }
  | { readonly kind: 'rejoin'; readonly node: number }
  | { readonly kind: 'stall-tick'; readonly node: number }
  | { readonly kind: 'resume'; readonly node: number }
  | { readonly kind: 'sample' }
  | { readonly kind: 'loss-end' }
  | { readonly kind: 'partition-end' }
  | { readonly kind: 'slow-end'; readonly nodes: readonly number[] }
  | { readonly kind: 'churn-crash'; readonly untilMs: number; readonly rate: number }
  | { readonly kind: 'churn-restart'; readonly untilMs: number; readonly rate: number };

export interface Sample {
  readonly tS: number;
  readonly liveNodes: number;
  readonly activeMean: number;
  readonly passiveMean: number;
  readonly bytesPerNodePerS: number;
  readonly messagesPerNodePerS: number;
  readonly suspicions: number;
  readonly refutations: number;
  readonly falseDeaths: number;
  readonly detections: number;
  readonly component: number | null;
}

interface CrashRecord {
  readonly atMs: number;
  readonly pending: Set<number>;
  readonly neighbours: number;
  lastMs: number;
}

interface FloodRecord {
  readonly atMs: number;
  readonly liveAtStart: number;
  delivered: number;
  receptions: number;
  maxHops: number;
  lastMs: number;
}

export interface SimFigures {
  readonly detection: {
    readonly crashed: number;
    readonly neighbourPairs: number;
    readonly p50S: number;
    readonly p99S: number;
    readonly maxS: number;
    readonly undetected: number;
  } | null;
  /** Live peers declared dead by a peer's own timeout, once per (peer, incarnation). */
  readonly falseDeaths: number;
  /** Of those, the ones declared after the peer had already refuted (outranked) the suspicion. */
  readonly staleDeaths: number;
  readonly nodeHours: number;
  readonly falseDeathsPer1kNodeHours: number;
  readonly floods: {
    readonly count: number;
    readonly reachMin: number;
    readonly reachMean: number;
    readonly dupPerPeerPerMsg: number;
    readonly maxHops: number;
    readonly lastDeliveryS: number;
  } | null;
  readonly components: readonly { readonly tS: number; readonly fraction: number; readonly liveNodes: number }[];
  readonly traffic: {
    readonly windowS: readonly [number, number];
    readonly bytesPerNodePerS: number;
    readonly messagesPerNodePerS: number;
    readonly bytesPerNodePerSByType: Readonly<Partial<Record<MessageType, number>>>;
  };
  readonly views: {
    readonly activeMean: number;
    readonly activeMax: number;
    readonly passiveMean: number;
    readonly passiveMax: number;
  };
  readonly suspicions: number;
  readonly refutations: number;
  readonly recordsRejected: number;
  readonly liveNodes: number;
  readonly eventsProcessed: number;
}

export interface SimResult {
  readonly scenario: Scenario;
  readonly seed: number;
  readonly config: MembershipConfig;
  readonly simulatedS: number;
  readonly figures: SimFigures;
  readonly series: readonly Sample[];
}

export interface SimObserver {
  /** Called after every call into a node, with what it returned. */
  onEffects?(sim: Simulation, node: SimNode, effects: Effects): void;
}

const INCARNATION_PER_RESTART = 1_000_000;
const TYPE_INDEX = Object.fromEntries(MESSAGE_TYPES.map((t, i) => [t, i])) as Record<MessageType, number>;
const REJOIN_DELAY_MS = 2_000;

export class Simulation {
  readonly nodes: SimNode[] = [];
  readonly config: MembershipConfig;
  now = 0;
  eventsProcessed = 0;

  private readonly byId = new Map<string, number>();
  private readonly messages = new EventHeap<Delivery>();
  private readonly wakes: WakeHeap;
  private readonly control = new EventHeap<Control>();
  private readonly netRng: Sfc32;
  private readonly faultRng: Sfc32;
  private readonly latency: LatencySampler;
  private lossRate: number;
  private partitioned = false;
  private readonly endMs: number;
  private readonly measureFromMs: number;
  private readonly windowFromMs: number;
  private readonly windowToMs: number;

  // Running totals and the current sample interval.
  private bytesTotal = 0;
  private readonly bytesByType = new Float64Array(MESSAGE_TYPES.length);
  private intervalBytes = 0;
  private intervalMessages = 0;
  private intervalSuspicions = 0;
  private intervalRefutations = 0;
  private intervalFalseDeaths = 0;
  private intervalDetections = 0;
  private lastSampleMs = 0;
  private suspicions = 0;
  private refutations = 0;
  private falseDeaths = 0;
  private staleDeaths = 0;
  private nodeMs = 0;
  private readonly falseDeathKeys = new Set<string>();
  private readonly crashes = new Map<number, CrashRecord>();
  private readonly detectionTimesMs: number[] = [];
  private readonly floods = new Map<string, FloodRecord>();
  private floodCounter = 0;
  private readonly components: { tS: number; fraction: number; liveNodes: number }[] = [];
  readonly series: Sample[] = [];

  constructor(
    readonly scenario: Scenario,
    readonly seed: number,
    private readonly observer: SimObserver = {},
  ) {
    this.config = PROFILES[scenario.profile](scenario.config as ConfigOverrides);
    const master = createRng(seed);
    this.netRng = master.fork();
    this.faultRng = master.fork();
    this.latency = latencySampler(scenario.network.latency);
    this.lossRate = scenario.network.lossRate;
    this.endMs = scenario.durationS * 1_000;
    this.wakes = new WakeHeap(scenario.nodes);
    const firstEvent = Math.min(...scenario.events.map((e) => e.atS));
    this.measureFromMs = Number.isFinite(firstEvent) ? firstEvent * 1_000 : 0;
    this.windowFromMs = scenario.trafficWindowS ? scenario.trafficWindowS[0] * 1_000 : this.measureFromMs;
    this.windowToMs = scenario.trafficWindowS ? scenario.trafficWindowS[1] * 1_000 : this.endMs;

    for (let i = 0; i < scenario.nodes; i++) {
      const id = `n${i}`;
      // Four nodes per /24: enough address groups that the diversity cap rarely binds.
      const g = i >> 2;
      const address = `10.${(g >> 8) & 255}.${g & 255}.${1 + (i & 3)}:7946`;
      const node: SimNode = {
        index: i,
        id,
        address,
        node: null,
        up: false,
        joined: false,
        seq: 1,
        restarts: 0,
        record: simRecord(id, 1, [address]),
        slow: null,
        stallUntil: 0,
        deferred: null,
        side: 0,
        rng: master.fork(),
        transport: { send: (out: Outgoing) => this.route(i, out) } satisfies Transport,
      };
      this.nodes.push(node);
      this.byId.set(id, i);
      this.control.push((i / scenario.joinRatePerS) * 1_000, { kind: 'join', node: i });
    }
    for (const event of scenario.events) this.control.push(event.atS * 1_000, { kind: 'timeline', event });
    this.control.push(scenario.sampleEveryS * 1_000, { kind: 'sample' });
  }

  get durationMs(): number {
    return this.endMs;
  }

  get done(): boolean {
    return this.now >= this.endMs;
  }

  indexOf(id: string): number | undefined {
    return this.byId.get(id);
  }

  /**
   * The node index of a simulated id ("n" and its index). Parsing the digits avoids a lookup in
   * a map of every node on each message; anything else goes through the map.
   */
  private indexOfId(id: string): number | undefined {
    let n = 0;
    if (id.length < 2 || id.length > 8 || id.charCodeAt(0) !== 110) return this.byId.get(id);
    for (let i = 1; i < id.length; i++) {
      const d = id.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return this.byId.get(id);
      n = n * 10 + d;
    }
    return n < this.nodes.length && this.nodes[n].id === id ? n : this.byId.get(id);
  }

  liveNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up && n.joined && n.node);
  }

  /** Runs every event up to `untilMs` (at most the scenario's end). */
  runUntil(untilMs: number): void {
    const end = Math.min(untilMs, this.endMs);
    for (;;) {
      const tm = this.messages.peekTime();
      const tw = this.wakes.peekTime();
      const tc = this.control.peekTime();
      if (tm <= tw && tm <= tc) {
        if (tm > end) break;
        this.now = tm;
        this.deliver(this.messages.pop() as Delivery);
      } else if (tw <= tc) {
        if (tw > end) break;
        this.now = tw;
        this.wake(this.wakes.peekNode());
      } else {
        if (tc > end) break;
        this.now = tc;
        this.runControl(this.control.pop() as Control);
      }
      this.eventsProcessed++;
    }
    this.now = Math.max(this.now, end);
  }

  run(): SimResult {
    this.runUntil(this.endMs);
    return this.result();
  }

  // ---- nodes ------------------------------------------------------------------------------------

  private boot(n: SimNode): MembershipNode {
    const node = new MembershipNode(
      { rng: n.rng.fork(), verifyRecord: verifySimRecord },
      { config: this.config, record: n.record, incarnation: n.restarts * INCARNATION_PER_RESTART },
    );
    n.node = node;
    n.up = true;
    n.stallUntil = 0;
    n.deferred = null;
    this.apply(n, node.start(this.now));
    return node;
  }

  /** Joins `n` through an introduction by a random live member (what the introducer does). */
  private joinThroughMember(n: SimNode): void {
    const node = n.node;
    if (!node) return;
    const member = this.randomLive(n.index);
    n.joined = true;
    if (!member || !member.node) return;
    const intro = member.node.introduce(this.now, n.record);
    this.apply(member, intro.effects);
    this.apply(n, node.join(this.now, intro.sample));
  }

  private randomLive(except = -1): SimNode | undefined {
    const n = this.nodes.length;
    for (let tries = 0; tries < 64; tries++) {
      const c = this.nodes[this.faultRng.int(n)];
      if (c.index !== except && c.up && c.joined && c.node) return c;
    }
    const live = this.nodes.filter((c) => c.index !== except && c.up && c.joined && c.node);
    return live.length === 0 ? undefined : live[this.faultRng.int(live.length)];
  }

  crash(n: SimNode): void {
    if (!n.up) return;
    n.up = false;
    n.node = null;
    n.deferred = null;
    n.stallUntil = 0;
    this.wakes.set(n.index, Infinity);
  }

  restart(n: SimNode): void {
    if (n.up) return;
    n.seq++;
    n.restarts++;
    n.record = simRecord(n.id, n.seq, [n.address]);
    this.boot(n);
    this.joinThroughMember(n);
    this.reschedule(n);
  }

  private reschedule(n: SimNode): void {
    if (!n.node || n.stallUntil > this.now) {
      this.wakes.set(n.index, Infinity);
      return;
    }
    this.wakes.set(n.index, n.node.nextWakeAt());
  }

  private wake(index: number): void {
    const n = this.nodes[index];
    if (!n.node || n.stallUntil > this.now) {
      // A stalled node's timers run when the stall ends (see resume).
      this.wakes.set(index, Infinity);
      return;
    }
    this.apply(n, n.node.tick(this.now));
    this.reschedule(n);
  }

  private deliver(d: Delivery): void {
    const n = this.nodes[d.to];
    if (!n.up || !n.node) return;
    if (n.stallUntil > this.now) {
      (n.deferred ??= []).push(d);
      return;
    }
    if (d.message.type === 'flood') {
      const f = this.floods.get(d.message.id);
      if (f) f.receptions++;
    }
    this.apply(n, n.node.handle(this.now, d.message));
    this.reschedule(n);
  }

  /** Sends a node's messages into the network and records what its events say. */
  private apply(n: SimNode, effects: Effects): void {
    const messages = effects.messages;
    for (let i = 0; i < messages.length; i++) n.transport.send(messages[i]);
    const events = effects.events;
    for (let i = 0; i < events.length; i++) this.record(n, events[i]);
    this.observer.onEffects?.(this, n, effects);
  }

  /** The simulated network: count the bytes, then lose, cut or delay the message. */
  private route(from: number, out: Outgoing): void {
    const bytes = messageBytes(out.message);
    this.bytesTotal += bytes;
    this.intervalBytes += bytes;
    this.intervalMessages++;
    if (this.now > this.windowFromMs && this.now <= this.windowToMs)
      this.bytesByType[TYPE_INDEX[out.message.type]] += bytes;
    const to = this.indexOfId(out.to);
    if (to === undefined) return;
    if (this.lossRate > 0 && this.netRng.next() < this.lossRate) return;
    if (this.partitioned && this.nodes[to].side !== this.nodes[from].side) return;
    this.messages.push(this.now + this.latency(this.netRng), { to, message: out.message });
  }

  private record(n: SimNode, e: MembershipEvent): void {
    switch (e.type) {
      case 'suspect':
        if (e.from === n.id) {
          this.suspicions++;
          this.intervalSuspicions++;
        }
        break;
      case 'refuted':
        this.refutations++;
        this.intervalRefutations++;
        break;
      case 'dead': {
        if (e.cause === 'left') break;
        const victim = this.byId.get(e.peer);
        if (victim === undefined) break;
        const v = this.nodes[victim];
        const crash = this.crashes.get(victim);
        if (!v.up && crash && crash.pending.delete(n.index)) {
          const ms = this.now - crash.atMs;
          this.detectionTimesMs.push(ms);
          crash.lastMs = Math.max(crash.lastMs, ms);
          this.intervalDetections++;
        }
        if (v.up && v.node && e.cause === 'timeout' && this.now >= this.measureFromMs) {
          const key = `${e.peer}:${e.incarnation}`;
          if (this.falseDeathKeys.has(key)) break;
          this.falseDeathKeys.add(key);
          // Every live peer declared dead by another's own timeout is a false death, counted once
          // per (peer, incarnation). Stale ones, of an incarnation the peer had already outranked,
          // are also counted apart: every other peer drops those, but the declarer did act on it.
          this.falseDeaths++;
          this.intervalFalseDeaths++;
          if (v.node.incarnation > e.incarnation) this.staleDeaths++;
        }
        break;
      }
      case 'flood': {
        const f = this.floods.get(e.id);
        if (f) {
          f.delivered++;
          f.maxHops = Math.max(f.maxHops, e.hops);
          f.lastMs = this.now;
        }
        break;
      }
      case 'isolated':
        // The host's bootstrap sources (peer cache, seeds, directory) take over: rejoin soon.
        this.control.push(this.now + REJOIN_DELAY_MS, { kind: 'rejoin', node: n.index });
        break;
      default:
        break;
    }
  }

  // ---- timeline ---------------------------------------------------------------------------------

  private runControl(c: Control): void {
    switch (c.kind) {
      case 'join': {
        const n = this.nodes[c.node];
        this.boot(n);
        if (c.node === 0) n.joined = true;
        else this.joinThroughMember(n);
        this.reschedule(n);
        break;
      }
      case 'rejoin': {
        const n = this.nodes[c.node];
        if (n.up && n.node && n.node.activeCount === 0) {
          this.joinThroughMember(n);
          this.reschedule(n);
        }
        break;
      }
      case 'stall-tick':
        this.stallTick(this.nodes[c.node]);
        break;
      case 'resume':
        this.resume(this.nodes[c.node]);
        break;
      case 'sample':
        this.sample();
        this.control.push(this.now + this.scenario.sampleEveryS * 1_000, { kind: 'sample' });
        break;
      case 'loss-end':
        this.lossRate = this.scenario.network.lossRate;
        break;
      case 'partition-end':
        this.partitioned = false;
        break;
      case 'slow-end':
        for (const i of c.nodes) this.nodes[i].slow = null;
        break;
      case 'churn-crash':
      case 'churn-restart': {
        if (this.now >= c.untilMs) break;
        if (c.kind === 'churn-crash') {
          const victim = this.randomLive();
          if (victim) this.crashTracked([victim]);
        } else {
          const down = this.nodes.filter((n) => !n.up && n.joined);
          if (down.length > 0) this.restart(down[this.faultRng.int(down.length)]);
        }
        this.control.push(this.now + this.exponentialMs(c.rate), c);
        break;
      }
      case 'timeline':
        this.runTimeline(c.event);
        break;
    }
  }

  private exponentialMs(ratePerS: number): number {
    return (-Math.log(1 - this.faultRng.next()) / ratePerS) * 1_000;
  }

  private runTimeline(e: TimelineEvent): void {
    switch (e.kind) {
      case 'crash': {
        const live = this.liveNodes();
        const count = e.count ?? Math.round((e.fraction ?? 0) * live.length);
        this.crashTracked(this.pickSome(live, count));
        break;
      }
      case 'restart': {
        const down = this.nodes.filter((n) => !n.up && n.joined);
        for (const n of this.pickSome(down, Math.round(e.fraction * down.length))) this.restart(n);
        break;
      }
      case 'slow': {
        const chosen = this.pickSome(this.liveNodes(), Math.round(e.fraction * this.liveNodes().length));
        const spec: SlowSpec = { stallProbability: e.stallProbability, maxStallMs: e.maxStallMs, tickMs: e.tickMs };
        for (const n of chosen) {
          n.slow = spec;
          this.control.push(this.now + this.faultRng.next() * spec.tickMs, { kind: 'stall-tick', node: n.index });
        }
        if (e.untilS !== undefined)
          this.control.push(e.untilS * 1_000, { kind: 'slow-end', nodes: chosen.map((n) => n.index) });
        break;
      }
      case 'loss':
        this.lossRate = e.rate;
        if (e.untilS !== undefined) this.control.push(e.untilS * 1_000, { kind: 'loss-end' });
        break;
      case 'partition': {
        for (const n of this.nodes) n.side = this.faultRng.next() < e.fraction ? 1 : 0;
        this.partitioned = true;
        this.control.push(e.untilS * 1_000, { kind: 'partition-end' });
        break;
      }
      case 'churn':
        if (e.crashesPerS > 0) {
          this.control.push(this.now + this.exponentialMs(e.crashesPerS), {
            kind: 'churn-crash',
            untilMs: e.untilS * 1_000,
            rate: e.crashesPerS,
          });
        }
        if (e.restartsPerS > 0) {
          this.control.push(this.now + this.exponentialMs(e.restartsPerS), {
            kind: 'churn-restart',
            untilMs: e.untilS * 1_000,
            rate: e.restartsPerS,
          });
        }
        break;
      case 'record-update': {
        const live = this.liveNodes();
        for (const n of this.pickSome(live, Math.round(e.fraction * live.length))) this.updateRecord(n);
        break;
      }
      case 'flood':
        for (let i = 0; i < e.count; i++) this.startFlood(e.payloadBytes);
        break;
      case 'component': {
        const { fraction, live } = this.largestComponent();
        this.components.push({ tS: this.now / 1_000, fraction, liveNodes: live });
        break;
      }
    }
  }

  private pickSome(from: SimNode[], count: number): SimNode[] {
    const out = from.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.faultRng.int(i + 1);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out.slice(0, Math.max(0, Math.min(count, out.length)));
  }

  /** Crashes nodes, remembering which live peers held each in their active view. */
  crashTracked(victims: readonly SimNode[]): void {
    const set = new Set(victims.map((v) => v.index));
    const pending = new Map<number, Set<number>>();
    for (const v of victims) pending.set(v.index, new Set());
    for (const n of this.nodes) {
      if (!n.up || !n.node || set.has(n.index)) continue;
      n.node.forEachActive((peer) => {
        const i = this.byId.get(peer);
        if (i !== undefined && set.has(i)) pending.get(i)?.add(n.index);
      });
    }
    for (const v of victims) {
      const p = pending.get(v.index) as Set<number>;
      this.crashes.set(v.index, { atMs: this.now, pending: p, neighbours: p.size, lastMs: 0 });
      this.crash(v);
    }
    // A neighbour that crashes too can no longer be asked.
    for (const c of this.crashes.values()) for (const v of victims) c.pending.delete(v.index);
  }

  private stallTick(n: SimNode): void {
    const slow = n.slow;
    if (!slow || !n.up) return;
    if (this.faultRng.next() < slow.stallProbability) {
      n.stallUntil = this.now + this.faultRng.next() * slow.maxStallMs;
      this.wakes.set(n.index, Infinity);
      this.control.push(n.stallUntil, { kind: 'resume', node: n.index });
      this.control.push(n.stallUntil + slow.tickMs, { kind: 'stall-tick', node: n.index });
    } else {
      this.control.push(this.now + slow.tickMs, { kind: 'stall-tick', node: n.index });
    }
  }

  /** A stall ends: due timers run first (as in an event loop's timer phase), then the messages. */
  private resume(n: SimNode): void {
    if (!n.up || !n.node || n.stallUntil > this.now) return;
    this.apply(n, n.node.tick(this.now));
    const deferred = n.deferred;
    n.deferred = null;
    if (deferred) for (const d of deferred) this.deliver(d);
    this.reschedule(n);
  }

  updateRecord(n: SimNode): void {
    if (!n.node) return;
    n.seq++;
    n.record = simRecord(n.id, n.seq, [n.address]);
    this.apply(n, n.node.updateRecord(this.now, n.record));
    this.reschedule(n);
  }

  /** Starts a flood from a random live node; returns its id. */
  startFlood(payloadBytes = 256): string | undefined {
    const origin = this.randomLive();
    if (!origin || !origin.node) return undefined;
    return this.floodFrom(origin, new Uint8Array(payloadBytes));
  }

  /** Starts a flood of `payload` from `origin`; returns its id. */
  floodFrom(origin: SimNode, payload: Uint8Array): string | undefined {
    if (!origin.node) return undefined;
    const id = `f${++this.floodCounter}`;
    this.floods.set(id, {
      atMs: this.now,
      liveAtStart: this.liveNodes().length,
      delivered: 1,
      receptions: 0,
      maxHops: 0,
      lastMs: this.now,
    });
    this.apply(origin, origin.node.flood(this.now, id, payload));
    this.reschedule(origin);
    return id;
  }

  /** Delivers an arbitrary message (a test's forged or hostile input) to a node now. */
  inject(to: SimNode, message: Message): void {
    if (!to.node) return;
    this.apply(to, to.node.handle(this.now, message));
    this.reschedule(to);
  }

  // ---- measurements ---------------------------------------------------------------------------

  /** The largest connected component of the live nodes' active views, as a fraction of them. */
  largestComponent(): { fraction: number; live: number; components: number } {
    const n = this.nodes.length;
    const parent = new Int32Array(n);
    for (let i = 0; i < n; i++) parent[i] = i;
    const find = (x: number): number => {
      while (parent[x] !== x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
      }
      return x;
    };
    let live = 0;
    for (const s of this.nodes) {
      if (!s.up || !s.node || !s.joined) continue;
      live++;
      s.node.forEachActive((peer) => {
        const j = this.byId.get(peer);
        if (j === undefined) return;
        const t = this.nodes[j];
        if (!t.up || !t.node) return;
        const a = find(s.index);
        const b = find(j);
        if (a !== b) parent[a] = b;
      });
    }
    const size = new Int32Array(n);
    let best = 0;
    let components = 0;
    for (const s of this.nodes) {
      if (!s.up || !s.node || !s.joined) continue;
      const r = find(s.index);
      if (size[r] === 0) components++;
      size[r]++;
      if (size[r] > best) best = size[r];
    }
    return { fraction: live === 0 ? 0 : best / live, live, components };
  }

  /**
   * Whether every live peer holds the current record of each of its active neighbours, and the
   * neighbours that do not (for a test to show).
   */
  staleNeighbourRecords(): Array<{ node: string; neighbour: string; held: number; current: number }> {
    const stale: Array<{ node: string; neighbour: string; held: number; current: number }> = [];
    for (const s of this.liveNodes()) {
      const node = s.node as MembershipNode;
      node.forEachActive((peer) => {
        const j = this.byId.get(peer);
        if (j === undefined) return;
        const t = this.nodes[j];
        if (!t.up) return;
        const held = (node.recordOf(peer) as SimRecordBlob | undefined)?.view.seq ?? -1;
        if (held !== t.seq) stale.push({ node: s.id, neighbour: t.id, held, current: t.seq });
      });
    }
    return stale;
  }

  private sample(): void {
    const intervalS = (this.now - this.lastSampleMs) / 1_000;
    let live = 0;
    let active = 0;
    let passive = 0;
    for (const s of this.nodes) {
      if (!s.up || !s.node || !s.joined) continue;
      live++;
      active += s.node.activeCount;
      passive += s.node.passiveCount;
    }
    if (this.now > this.measureFromMs)
      this.nodeMs += live * (this.now - Math.max(this.lastSampleMs, this.measureFromMs));
    const component = this.scenario.componentEverySample ? this.largestComponent().fraction : null;
    const perNode = live > 0 && intervalS > 0 ? 1 / (live * intervalS) : 0;
    this.series.push({
      tS: this.now / 1_000,
      liveNodes: live,
      activeMean: live ? active / live : 0,
      passiveMean: live ? passive / live : 0,
      bytesPerNodePerS: this.intervalBytes * perNode,
      messagesPerNodePerS: this.intervalMessages * perNode,
      suspicions: this.intervalSuspicions,
      refutations: this.intervalRefutations,
      falseDeaths: this.intervalFalseDeaths,
      detections: this.intervalDetections,
      component,
    });
    this.lastSampleMs = this.now;
    this.intervalBytes = 0;
    this.intervalMessages = 0;
    this.intervalSuspicions = 0;
    this.intervalRefutations = 0;
    this.intervalFalseDeaths = 0;
    this.intervalDetections = 0;
  }

  result(): SimResult {
    const live = this.liveNodes();
    let activeSum = 0;
    let activeMax = 0;
    let passiveSum = 0;
    let passiveMax = 0;
    let rejected = 0;
    for (const s of live) {
      const node = s.node as MembershipNode;
      activeSum += node.activeCount;
      passiveSum += node.passiveCount;
      activeMax = Math.max(activeMax, node.activeCount);
      passiveMax = Math.max(passiveMax, node.passiveCount);
      rejected += node.stats.recordsRejectedBadSignature + node.stats.recordsRejectedStale;
    }

    let detection: SimFigures['detection'] = null;
    if (this.crashes.size > 0) {
      const perNode: number[] = [];
      let undetected = 0;
      let pairs = 0;
      for (const c of this.crashes.values()) {
        pairs += c.neighbours;
        if (c.pending.size > 0) undetected++;
        else if (c.neighbours > 0) perNode.push(c.lastMs);
      }
      perNode.sort((a, b) => a - b);
      detection = {
        crashed: this.crashes.size,
        neighbourPairs: pairs,
        p50S: quantile(perNode, 0.5) / 1_000,
        p99S: quantile(perNode, 0.99) / 1_000,
        maxS: (perNode[perNode.length - 1] ?? 0) / 1_000,
        undetected,
      };
    }

    let floods: SimFigures['floods'] = null;
    if (this.floods.size > 0) {
      const liveCount = live.length;
      let reachMin = Infinity;
      let reachSum = 0;
      let dupSum = 0;
      let maxHops = 0;
      let last = 0;
      for (const f of this.floods.values()) {
        const reach = liveCount ? Math.min(1, f.delivered / liveCount) : 0;
        reachMin = Math.min(reachMin, reach);
        reachSum += reach;
        dupSum += liveCount ? Math.max(0, f.receptions - (f.delivered - 1)) / liveCount : 0;
        maxHops = Math.max(maxHops, f.maxHops);
        last = Math.max(last, f.lastMs - f.atMs);
      }
      floods = {
        count: this.floods.size,
        reachMin,
        reachMean: reachSum / this.floods.size,
        dupPerPeerPerMsg: dupSum / this.floods.size,
        maxHops,
        lastDeliveryS: last / 1_000,
      };
    }

    const window: [number, number] = this.scenario.trafficWindowS ?? [this.measureFromMs / 1_000, this.now / 1_000];
    const inWindow = this.series.filter((s) => s.tS > window[0] && s.tS <= window[1]);
    const mean = (f: (s: Sample) => number) =>
      inWindow.length ? inWindow.reduce((a, s) => a + f(s), 0) / inWindow.length : 0;
    const totalBytes = this.bytesByType.reduce((a, b) => a + b, 0);
    const bytesPerNodePerS = mean((s) => s.bytesPerNodePerS);
    const byType: Partial<Record<MessageType, number>> = {};
    MESSAGE_TYPES.forEach((type, i) => {
      const b = this.bytesByType[i];
      if (b) byType[type] = totalBytes ? (b / totalBytes) * bytesPerNodePerS : 0;
    });
    const nodeHours = this.nodeMs / 3_600_000;
    return {
      scenario: this.scenario,
      seed: this.seed,
      config: this.config,
      simulatedS: this.now / 1_000,
      figures: {
        detection,
        falseDeaths: this.falseDeaths,
        staleDeaths: this.staleDeaths,
        nodeHours,
        falseDeathsPer1kNodeHours: nodeHours > 0 ? (this.falseDeaths / nodeHours) * 1_000 : 0,
        floods,
        components: this.components,
        traffic: {
          windowS: window,
          bytesPerNodePerS,
          messagesPerNodePerS: mean((s) => s.messagesPerNodePerS),
          bytesPerNodePerSByType: byType,
        },
        views: {
          activeMean: live.length ? activeSum / live.length : 0,
          activeMax,
          passiveMean: live.length ? passiveSum / live.length : 0,
          passiveMax,
        },
        suspicions: this.suspicions,
        refutations: this.refutations,
        recordsRejected: rejected,
        liveNodes: live.length,
        eventsProcessed: this.eventsProcessed,
      },
      series: this.series,
    };
  }
}

/** The q-quantile of sorted values (nearest rank); 0 for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function simulate(scenario: Scenario, seed: number, observer?: SimObserver): SimResult {
  return new Simulation(scenario, seed, observer).run();
}
