/**
 * One peer's membership state machine: HyParView partial views, SWIM probing with Lifeguard on
 * the active view, piggybacked updates, push-pull anti-entropy, flooding and introductions.
 *
 * It does no I/O. Every method takes the current time in milliseconds and returns the messages to
 * send and the membership events; randomness comes from the injected Rng. The driver (the gRPC
 * transport, or the simulator) delivers messages with `handle`, and calls `tick` at `nextWakeAt()`.
 */
import { Awareness, failedProbeDelta } from './awareness';
import { BroadcastQueue } from './broadcast-queue';
import { rememberNewest } from './bounded-memory';
import { retransmitLimit, type MembershipConfig } from './config';
import { FloodTree } from './flood-tree';
import {
  UpdateKind,
  type Ack,
  type Flood,
  type ForwardJoin,
  type Join,
  type Message,
  type Neighbor,
  type NeighborReply,
  type Outgoing,
  type PeerId,
  type Ping,
  type PingReq,
  type PushPull,
  type RecordVerifier,
  type RecordView,
  type Shuffle,
  type ShuffleReply,
  type SignedRecordBlob,
  type Update,
  type WithRecords,
} from './messages';
import { pick, sample, type Rng } from './rng';
import { suspicionTimeout } from './suspicion';
import { newEntry, PeerViews, type NeighborRef, type PeerEntry } from './views';

export type DeathCause = 'timeout' | 'gossip' | 'left';

export type MembershipEvent =
  | { readonly type: 'neighbor-up'; readonly peer: PeerId }
  | { readonly type: 'neighbor-down'; readonly peer: PeerId }
  | { readonly type: 'suspect'; readonly peer: PeerId; readonly incarnation: number; readonly from: PeerId }
  | { readonly type: 'alive'; readonly peer: PeerId; readonly incarnation: number }
  | { readonly type: 'dead'; readonly peer: PeerId; readonly incarnation: number; readonly cause: DeathCause }
  | { readonly type: 'refuted'; readonly incarnation: number }
  | { readonly type: 'record'; readonly peer: PeerId; readonly seq: number }
  | {
      readonly type: 'flood';
      readonly id: string;
      readonly hops: number;
      readonly from: PeerId;
      readonly origin: PeerId;
      readonly payload: Uint8Array;
    }
  | { readonly type: 'isolated' };

export interface Effects {
  readonly messages: readonly Outgoing[];
  readonly events: readonly MembershipEvent[];
}

/** Dependencies: where randomness and record verification come from. */
export interface MembershipComponents {
  readonly rng: Rng;
  readonly verifyRecord: RecordVerifier;
}

/** Options: the validated config, this peer's own signed record, its starting incarnation. */
export interface MembershipInit {
  readonly config: MembershipConfig;
  readonly record: SignedRecordBlob;
  /**
   * Must exceed every incarnation this peer id used before (a restarted host passes, say, its
   * start time in seconds), or old suspicions of it could outrank its refutations.
   */
  readonly incarnation?: number;
}

export interface MembershipStats {
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  nacksSent: number;
  suspicionsStarted: number;
  refutations: number;
  deathsDeclared: number;
  recordsRejectedBadSignature: number;
  recordsRejectedStale: number;
  floodsDelivered: number;
  floodDuplicates: number;
  /** Floods asked of a neighbour that announced them, after the tree missed this peer. */
  floodGrafts: number;
  neighborRequests: number;
  /** Refusals that offered the asker another peer short of neighbours. */
  referrals: number;
  /** Ticks that came so late that they read waiting messages before judging (holdIfLate). */
  judgementsHeld: number;
}

interface Probe {
  readonly seq: number;
  readonly target: PeerId;
  readonly address: string;
  /**
   * regular: a round-robin probe of a neighbour (counts for local health). suspicion: a check
   * asked for by a suspicion heard from others. candidate: a direct check of a neighbour evicted
   * for room; its failure drops the peer from the passive view, and suspects nobody.
   */
  readonly kind: 'regular' | 'suspicion' | 'candidate';
  readonly indirectAt: number;
  readonly endAt: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  readonly seq: number;
  readonly origin: PeerId;
  readonly originAddress: string;
  readonly originSeq: number;
  readonly nackAt: number;
  readonly expiresAt: number;
  nackSent: boolean;
}

interface Suspicion {
  readonly peer: PeerId;
  readonly address: string;
  readonly incarnation: number;
  readonly startedAt: number;
  readonly confirmers: Set<PeerId>;
  readonly wanted: number;
  readonly neighbors: readonly NeighborRef[];
  deadline: number;
  /**
   * The deadline never comes before this: the shortest suspicion after this peer's own probe
   * failed, counted from then (Lifeguard; 0 until then).
   */
  notBefore: number;
  /** This peer's own probe failed too: it keeps telling the suspect. */
  mine: boolean;
  nextTellAt: number;
}

interface Pending {
  readonly deadline: number;
  /** A join or a reconnect may evict a neighbour when accepted; a plain request may not. */
  readonly kind: 'join' | 'neighbor' | 'reconnect';
}

/** The last peer whose neighbour request was refused: short of neighbours, as the next may be. */
interface Refused {
  readonly id: PeerId;
  readonly blob: SignedRecordBlob;
  readonly at: number;
}

/**
 * How long, in neighbour request timeouts, a refused asker is offered to the next one refused. A
 * peer short of neighbours asks again every quarter timeout, so within this it has either found
 * one or asked again elsewhere; an offer of a peer that filled up meanwhile costs one refusal.
 */
const REFERRAL_WINDOW_TIMEOUTS = 2;

interface Tombstone {
  readonly incarnation: number;
  readonly seq: number;
  readonly until: number;
  readonly address: string;
  readonly left: boolean;
}

const NO_MESSAGES: readonly Outgoing[] = Object.freeze([]);
const NO_EVENTS: readonly MembershipEvent[] = Object.freeze([]);
const NO_UPDATES: readonly Update[] = Object.freeze([]);
/** Lifeguard: a relay sends its nack at this fraction of the probe timeout. */
const NACK_AT_FRACTION = 0.8;

export class MembershipNode {
  readonly id: PeerId;
  readonly config: MembershipConfig;
  readonly stats: MembershipStats = {
    probes: 0,
    probeFailures: 0,
    indirectProbes: 0,
    nacksSent: 0,
    suspicionsStarted: 0,
    refutations: 0,
    deathsDeclared: 0,
    recordsRejectedBadSignature: 0,
    recordsRejectedStale: 0,
    floodsDelivered: 0,
    floodDuplicates: 0,
    floodGrafts: 0,
    neighborRequests: 0,
    referrals: 0,
    judgementsHeld: 0,
  };

  private readonly rng: Rng;
  private readonly verify: RecordVerifier;
  private readonly views: PeerViews;
  private readonly queue: BroadcastQueue;
  private readonly awareness: Awareness;
  private readonly tree: FloodTree;
  private blob: SignedRecordBlob;
  private seq: number;
  private address: string;
  private inc: number;

  // Probes and relays in flight: a handful at most, so plain arrays scanned in place (cheaper
  // than maps when thousands of peers share one process, as in the simulator).
  private probes: Probe[] = [];
  private relays: Relay[] = [];
  private readonly suspicions = new Map<PeerId, Suspicion>();
  private readonly pending = new Map<PeerId, Pending>();
  private readonly dead = new Map<PeerId, Tombstone>();
  /**
   * Suspicions this peer let lapse with no evidence of its own, by peer: the incarnation and the
   * accusers it had heard. Peers still relaying the rumour would otherwise hand it back, and each
   * taking it up again relays it anew: a rumour nobody can confirm would never die. A new accuser
   * (one whose own probe failed since) still starts a suspicion.
   */
  private readonly lapsed = new Map<PeerId, { incarnation: number; accusers: ReadonlySet<PeerId> }>();
  private lastShuffle: ReadonlySet<PeerId> = new Set();
  private lastRefused: Refused | undefined;
  private nextProbeAt = Infinity;
  private nextShuffleAt = Infinity;
  private nextPushPullAt = Infinity;
  private nextReconnectAt = Infinity;
  /** A refused neighbour request is followed by another soon, not only at the next probe tick. */
  private nextFillAt = Infinity;
  /**
   * A tick long after its deadlines (the peer was paused, or its event loop was busy) holds its
   * judgements until then: see holdIfLate.
   */
  private holdJudgementsUntil = -Infinity;
  private judgedSinceHold = true;
  private probeCursor = 0;
  private seqCounter = 0;
  private running = false;
  /** The active view changed since the neighbours last heard it. */
  private viewChanged = false;
  private isolatedSaid = false;
  /** Neighbour requests refused in a row while the active view is short. */
  private refusals = 0;

  private outMessages: Outgoing[] | null = null;
  private outEvents: MembershipEvent[] | null = null;

  constructor(components: MembershipComponents, init: MembershipInit) {
    this.rng = components.rng;
    this.verify = components.verifyRecord;
    this.config = init.config;
    const view = this.verify(init.record);
    if (!view) throw new TypeError('own record does not verify');
    if (view.addresses.length === 0) throw new TypeError('own record has no address');
    this.id = view.peerId;
    this.blob = init.record;
    this.seq = view.seq;
    this.address = view.addresses[0];
    this.inc = init.incarnation ?? 0;
    const c = init.config;
    this.views = new PeerViews(c.activeViewSize, c.passiveViewSize, c.maxPeersPerAddressGroup);
    this.queue = new BroadcastQueue(retransmitLimit(c), c.broadcastQueueLimit);
    this.awareness = new Awareness(c.awarenessMaxMultiplier);
    this.tree = new FloodTree(c, this.stats, {
      self: () => ({ from: this.id, fromAddress: this.address }),
      send: (to, message) => this.send(to.id, to.address, message),
      deliver: (m) =>
        this.event({ type: 'flood', id: m.id, hops: m.hops, from: m.from, origin: m.origin, payload: m.payload }),
    });
  }

  // ---- queries ----------------------------------------------------------------------------------

  get incarnation(): number {
    return this.inc;
  }

  get recordSeq(): number {
    return this.seq;
  }

  get record(): SignedRecordBlob {
    return this.blob;
  }

  get awarenessScore(): number {
    return this.awareness.score;
  }

  get activeCount(): number {
    return this.views.active.length;
  }

  get passiveCount(): number {
    return this.views.passive.length;
  }

  /** Calls `f` for each active neighbour, without copying the view. */
  forEachActive(f: (peer: PeerId) => void): void {
    for (const p of this.views.active) f(p.id);
  }

  activeView(): PeerId[] {
    return this.views.active.map((p) => p.id);
  }

  passiveView(): PeerId[] {
    return this.views.passive.map((p) => p.id);
  }

  /** The record this peer holds for `peer` (only peers in its views are known). */
  recordOf(peer: PeerId): SignedRecordBlob | undefined {
    return this.views.get(peer)?.blob;
  }

  /** What this peer believes of `peer`: its incarnation and whether it is suspected. */
  peerState(peer: PeerId): { incarnation: number; suspected: boolean; view: 'active' | 'passive' } | undefined {
    const entry = this.views.get(peer);
    if (!entry) return undefined;
    return { incarnation: entry.incarnation, suspected: this.suspicions.has(peer), view: entry.view };
  }

  isSuspected(peer: PeerId): boolean {
    return this.suspicions.has(peer);
  }

  /** When the driver must call `tick` next (Infinity when nothing is scheduled). */
  nextWakeAt(): number {
    if (!this.running) return Infinity;
    const t = Math.min(
      this.nextProbeAt,
      this.nextShuffleAt,
      this.nextPushPullAt,
      this.nextReconnectAt,
      this.nextFillAt,
      this.tree.nextWakeAt(),
    );
    return Math.min(t, Math.max(this.nextJudgementAt(), this.holdJudgementsUntil));
  }

  /** The earliest deadline of a probe, relay, suspicion or pending request. */
  private nextJudgementAt(): number {
    let t = Infinity;
    // Called after every message: skip the (usually empty) tables without iterating them.
    for (let i = 0; i < this.probes.length; i++) {
      const p = this.probes[i];
      // A candidate probe sends no indirect pings (indirectAt is Infinity): its end is its deadline.
      t = Math.min(t, p.indirectSent ? p.endAt : Math.min(p.indirectAt, p.endAt));
    }
    for (let i = 0; i < this.relays.length; i++) {
      const r = this.relays[i];
      t = Math.min(t, r.nackSent ? r.expiresAt : r.nackAt);
    }
    if (this.suspicions.size > 0) {
      const tells = this.config.lifeguard;
      for (const s of this.suspicions.values())
        t = Math.min(t, s.mine && tells ? Math.min(s.deadline, s.nextTellAt) : s.deadline);
    }
    if (this.pending.size > 0) for (const p of this.pending.values()) t = Math.min(t, p.deadline);
    return t;
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** Starts the timers. Call once, then `join` (a newcomer) or wait to be joined (the first peer). */
  start(now: number): Effects {
    if (!this.running) {
      this.running = true;
      const c = this.config;
      // Spread the periodic work so peers started together do not act in step.
      this.nextProbeAt = now + this.rng.int(c.probeIntervalMs);
      this.nextShuffleAt = now + c.shuffleIntervalMs / 2 + this.rng.int(c.shuffleIntervalMs);
      this.nextPushPullAt = now + c.pushPullIntervalMs / 2 + this.rng.int(c.pushPullIntervalMs);
      this.nextReconnectAt = now + c.reconnectIntervalMs / 2 + this.rng.int(c.reconnectIntervalMs);
    }
    return this.flush();
  }

  /**
   * Joins through `contacts` (records from a peer cache, seeds or an introducer): they become
   * passive candidates, and one of them is asked to take this peer in.
   */
  join(now: number, contacts: readonly SignedRecordBlob[]): Effects {
    if (!this.running) this.start(now);
    for (const blob of contacts) {
      const entry = this.intake(blob);
      if (entry && !this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
    }
    this.sendJoin(now);
    return this.flush();
  }

  /** Leaves gracefully: neighbours drop the links and learn that this peer left, not failed. */
  leave(now: number): Effects {
    const left: Update = { kind: UpdateKind.Dead, peer: this.id, incarnation: this.inc, from: this.id };
    for (const p of this.views.active) {
      this.send(p.id, p.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [left] });
      this.send(p.id, p.address, { type: 'disconnect', from: this.id, fromAddress: this.address });
    }
    void now;
    this.running = false;
    return this.flush();
  }

  /**
   * This peer issued a newer record: it spreads with an alive update, piggybacked like any other.
   * When the address changed it also reaches every neighbour directly, since they would go on
   * probing the old one; a record re-signed at the same address (a fresher seq, new labels) is
   * not worth a message to each.
   */
  updateRecord(now: number, blob: SignedRecordBlob): Effects {
    const view = this.verify(blob);
    if (!view || view.peerId !== this.id || view.seq <= this.seq || view.addresses.length === 0) {
      throw new TypeError("a new own record must verify, be this peer's, carry an address and have a higher seq");
    }
    const moved = view.addresses[0] !== this.address;
    this.blob = blob;
    this.seq = view.seq;
    this.address = view.addresses[0];
    const update: Update = {
      kind: UpdateKind.Alive,
      peer: this.id,
      incarnation: this.inc,
      from: this.id,
      record: blob,
    };
    this.queue.enqueue(update);
    if (moved) {
      for (const p of this.views.active) {
        this.send(p.id, p.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [update] });
      }
    }
    void now;
    return this.flush();
  }

  /**
   * A member introduces a newcomer (the introducer's Join RPC, after it dialled the newcomer
   * back): the newcomer gets a sample of this peer's views, and a few neighbours learn of it.
   */
  introduce(now: number, newcomer: SignedRecordBlob): { sample: SignedRecordBlob[]; effects: Effects } {
    const entry = this.intake(newcomer);
    if (!entry) return { sample: [], effects: this.flush() };
    const known = [...this.views.active, ...this.views.passive].filter((p) => p.id !== entry.id);
    const picked = [this.blob, ...sample(this.rng, known, this.config.introductionSampleSize - 1).map((p) => p.blob)];
    for (const p of sample(
      this.rng,
      this.views.active.filter((a) => a.id !== entry.id),
      this.config.introductionFanout,
    )) {
      this.send(p.id, p.address, { type: 'introduce', from: this.id, fromAddress: this.address, record: newcomer });
    }
    if (!this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
    void now;
    return { sample: picked, effects: this.flush() };
  }

  /** Floods an application message to every peer over the active views. */
  flood(now: number, id: string, payload: Uint8Array, ttlHops = this.config.floodTtlHops): Effects {
    const flood: Flood = {
      type: 'flood',
      from: this.id,
      fromAddress: this.address,
      id,
      origin: this.id,
      ttl: ttlHops,
      hops: 1,
      payload,
    };
    this.tree.originate(now, flood, this.views.active);
    return this.flush();
  }

  // ---- time -----------------------------------------------------------------------------------

  /** Runs every timer that is due at `now`. */
  tick(now: number): Effects {
    if (!this.running) return this.flush();
    if (!this.holdIfLate(now)) {
      if (this.relays.length > 0) this.tickRelays(now);
      if (this.probes.length > 0) this.tickProbes(now);
      if (this.suspicions.size > 0) this.tickSuspicions(now);
      if (this.pending.size > 0) this.tickPending(now);
    }
    if (now >= this.nextProbeAt) this.probeTick(now);
    if (now >= this.nextShuffleAt) {
      this.nextShuffleAt = now + this.config.shuffleIntervalMs;
      this.shuffle();
    }
    if (now >= this.nextPushPullAt) {
      this.nextPushPullAt = now + this.config.pushPullIntervalMs;
      const target = pick(this.rng, this.views.active);
      if (target) this.sendPushPull(target, false);
    }
    if (now >= this.nextReconnectAt) {
      this.nextReconnectAt = now + this.config.reconnectIntervalMs;
      this.reconnect(now);
    }
    if (now >= this.nextFillAt) {
      this.nextFillAt = Infinity;
      if (this.views.active.length < this.views.activeSize) this.fillActive(now);
    }
    this.tree.tick(now, this.views.active);
    return this.flush();
  }

  /**
   * Whether this tick must hold its judgements (no probe failed, no death declared, no nack or
   * candidate timed out) for a little while. A tick that comes long after the deadline it is for
   * means this peer was not running: a pause, or an event loop busy elsewhere. Meanwhile its
   * messages waited unread, acks and refutations among them, and an event loop runs the late
   * timers before it reads them. Judging first would blame others for this peer's own stall (a
   * death declared over a refutation already waiting to be read), so it reads first. A hold lasts
   * half a probe timeout and is not renewed before a tick has judged: a peer that is always late
   * still judges, only a little later.
   */
  private holdIfLate(now: number): boolean {
    if (now < this.holdJudgementsUntil) return true;
    const stallMs = this.config.probeTimeoutMs / 2;
    if (this.judgedSinceHold && now - this.nextJudgementAt() > stallMs) {
      this.holdJudgementsUntil = now + stallMs;
      this.judgedSinceHold = false;
      this.stats.judgementsHeld++;
      return true;
    }
    this.judgedSinceHold = true;
    return false;
  }

  private tickRelays(now: number): void {
    for (let i = this.relays.length - 1; i >= 0; i--) {
      const r = this.relays[i];
      if (!r.nackSent && now >= r.nackAt) {
        r.nackSent = true;
        if (this.config.lifeguard) {
          this.stats.nacksSent++;
          this.send(r.origin, r.originAddress, {
            type: 'nack',
            from: this.id,
            fromAddress: this.address,
            seq: r.originSeq,
          });
        }
      }
      if (now >= r.expiresAt) this.relays.splice(i, 1);
    }
  }

  private tickProbes(now: number): void {
    for (let i = this.probes.length - 1; i >= 0; i--) {
      const probe = this.probes[i];
      if (!probe) continue;
      if (!probe.indirectSent && now >= probe.indirectAt) {
        probe.indirectSent = true;
        this.sendIndirect(probe);
      }
      if (now >= probe.endAt) {
        this.endProbe(probe);
        this.probeFailed(now, probe);
      }
    }
  }

  private tickSuspicions(now: number): void {
    for (const s of this.suspicions.values()) {
      if (now >= s.deadline) {
        // Only a peer with evidence of its own (its probe failed too) declares a death. One that
        // only heard the rumour lets it lapse: the declarers will tell it, and a live suspect that
        // never heard the rumour must not be killed by peers that never tried to reach it.
        if (s.mine) this.declareDead(now, s);
        else this.lapse(s);
      } else if (this.config.lifeguard && s.mine && now >= s.nextTellAt) {
        // Keep telling the suspect while it may still answer: one lost packet must not kill it.
        s.nextTellAt = now + this.config.probeIntervalMs;
        const u: Update = { kind: UpdateKind.Suspect, peer: s.peer, incarnation: s.incarnation, from: this.id };
        this.send(s.peer, s.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [u] });
      }
    }
  }

  private lapse(s: Suspicion): void {
    this.suspicions.delete(s.peer);
    // A rumour is relayed for a few probe rounds, far less than it takes to cycle through this many.
    const lapsed = { incarnation: s.incarnation, accusers: s.confirmers };
    rememberNewest(this.lapsed, s.peer, lapsed, this.views.pastMemorySize);
  }

  private tickPending(now: number): void {
    let failed = false;
    for (const [peer, p] of this.pending) {
      if (now < p.deadline) continue;
      this.pending.delete(peer);
      // HyParView drops a candidate that does not answer: it is likely gone.
      const entry = this.views.get(peer);
      if (entry && entry.view === 'passive') this.views.remove(peer);
      failed = true;
      if (p.kind === 'join' && this.views.active.length === 0) this.sendJoin(now);
    }
    if (failed) this.fillActive(now);
  }

  private probeTick(now: number): void {
    const c = this.config;
    const scale = c.lifeguard ? this.awareness.score + 1 : 1;
    this.nextProbeAt = now + c.probeIntervalMs * scale;
    if (this.dead.size > 0) this.pruneTombstones(now);
    if (this.views.active.length < this.views.activeSize) this.fillActive(now);
    if (this.viewChanged) {
      // Neighbours use our neighbour list to find who can confirm a suspicion of us, and whom to
      // tell when we die: keep it current (a one-way push-pull, at most once per probe interval).
      this.viewChanged = false;
      for (const p of this.views.active) this.sendPushPull(p, true);
    }
    const active = this.views.active;
    if (active.length === 0) return;
    const target = active[this.probeCursor % active.length];
    this.probeCursor = (this.probeCursor + 1) % active.length;
    // Each link is probed from one end: a neighbour that pinged us since our last turn has just
    // shown that it is alive and that the link works both ways, so our turn passes. If it fails,
    // its pings stop, and our next turn probes it.
    if (target.probedUs) {
      target.probedUs = false;
      return;
    }
    if (!this.probeOf(target.id)) this.startProbe(now, target, 'regular');
  }

  // ---- probing ----------------------------------------------------------------------------------

  private startProbe(now: number, target: PeerEntry, kind: Probe['kind']): void {
    const c = this.config;
    const scale = c.lifeguard ? this.awareness.score + 1 : 1;
    const probe: Probe = {
      seq: ++this.seqCounter,
      target: target.id,
      address: target.address,
      kind,
      indirectAt: kind === 'candidate' ? Infinity : now + c.probeTimeoutMs * scale,
      endAt: now + c.probeIntervalMs * scale,
      indirectSent: false,
      expectedNacks: 0,
      nacks: 0,
    };
    this.probes.push(probe);
    this.stats.probes++;
    let updates = this.queue.take(c.maxPiggybackUpdates);
    const s = this.suspicions.size > 0 ? this.suspicions.get(target.id) : undefined;
    if (s && c.lifeguard) {
      // Tell the suspect first: the probe itself carries the suspicion it can refute.
      const u: Update = { kind: UpdateKind.Suspect, peer: target.id, incarnation: s.incarnation, from: this.id };
      updates = [u, ...updates];
    }
    this.send(target.id, target.address, {
      type: 'ping',
      from: this.id,
      fromAddress: this.address,
      seq: probe.seq,
      neighbor: target.view === 'active',
      updates,
    });
  }

  private sendIndirect(probe: Probe): void {
    const relays = sample(
      this.rng,
      this.views.active.filter((p) => p.id !== probe.target && !this.suspicions.has(p.id)),
      this.config.indirectChecks,
    );
    if (relays.length > 0) this.stats.indirectProbes++;
    probe.expectedNacks = this.config.lifeguard ? relays.length : 0;
    for (const h of relays) {
      this.send(h.id, h.address, {
        type: 'ping-req',
        from: this.id,
        fromAddress: this.address,
        seq: probe.seq,
        target: probe.target,
        targetAddress: probe.address,
        updates: NO_UPDATES,
      });
    }
  }

  private endProbe(probe: Probe): void {
    const i = this.probes.indexOf(probe);
    if (i >= 0) this.probes.splice(i, 1);
  }

  private probeOf(target: PeerId): Probe | undefined {
    for (let i = 0; i < this.probes.length; i++) if (this.probes[i].target === target) return this.probes[i];
    return undefined;
  }

  private probeBySeq(seq: number): Probe | undefined {
    for (let i = 0; i < this.probes.length; i++) if (this.probes[i].seq === seq) return this.probes[i];
    return undefined;
  }

  private probeFailed(now: number, probe: Probe): void {
    this.stats.probeFailures++;
    if (probe.kind === 'regular' && this.config.lifeguard)
      this.awareness.apply(failedProbeDelta(probe.expectedNacks, probe.nacks));
    const entry = this.views.get(probe.target);
    if (!entry) return;
    if (probe.kind === 'candidate' && entry.view === 'passive') {
      // HyParView drops a candidate that does not answer. A live one that was only slow is
      // learned again through shuffles; no suspicion, so a busy peer kills nobody this way.
      this.views.remove(entry.id);
      return;
    }
    // The link is broken whatever the membership verdict: repair the overlay now, and let the
    // suspicion decide about death. A live suspect keeps its place as a passive candidate.
    if (entry.view === 'active') {
      this.demote(entry);
      this.fillActive(now);
    }
    const s = this.suspicions.get(entry.id);
    if (s && s.incarnation >= entry.incarnation) this.confirmMine(now, s);
    else this.startSuspicion(now, entry, entry.incarnation, this.id);
  }

  // ---- suspicion --------------------------------------------------------------------------------

  private startSuspicion(now: number, entry: PeerEntry, incarnation: number, from: PeerId): void {
    const c = this.config;
    const others = entry.neighbors.filter((n) => n.id !== this.id && n.id !== from && n.id !== entry.id);
    const s: Suspicion = {
      peer: entry.id,
      address: entry.address,
      incarnation,
      startedAt: now,
      confirmers: new Set([from]),
      wanted: Math.min(c.suspicionConfirmations, others.length),
      neighbors: entry.neighbors,
      deadline: 0,
      notBefore: 0,
      mine: from === this.id,
      nextTellAt: now + c.probeIntervalMs,
    };
    s.deadline =
      now + (c.lifeguard ? suspicionTimeout(0, s.wanted, c.suspicionMinMs, c.suspicionMaxMs) : c.suspicionMinMs);
    this.suspicions.set(entry.id, s);
    this.lapsed.delete(entry.id);
    entry.incarnation = Math.max(entry.incarnation, incarnation);
    this.stats.suspicionsStarted++;
    const u: Update = { kind: UpdateKind.Suspect, peer: entry.id, incarnation, from };
    this.queue.enqueue(u);
    this.event({ type: 'suspect', peer: entry.id, incarnation, from });
    if (s.mine) this.tellAboutSuspicion(s, u);
    else if (entry.view === 'active' && !this.probeOf(entry.id)) this.startProbe(now, entry, 'suspicion');
  }

  /** This peer's own probe of an already-suspected peer failed too: an independent confirmation. */
  private confirmMine(now: number, s: Suspicion): void {
    if (s.mine) return;
    s.mine = true;
    s.nextTellAt = now + this.config.probeIntervalMs;
    // A rumour heard long ago may be near its deadline, and the suspect hears of this peer's own
    // evidence only now. It gets the shortest suspicion from here to answer, or a suspect that
    // refuted the rumour before this peer heard of it, and is slow at this moment, dies on the
    // spot for a refutation that never reached this peer.
    if (this.config.lifeguard) s.notBefore = now + this.config.suspicionMinMs;
    this.confirm(s, this.id);
    const u: Update = { kind: UpdateKind.Suspect, peer: s.peer, incarnation: s.incarnation, from: this.id };
    this.queue.enqueue(u);
    this.tellAboutSuspicion(s, u);
  }

  /**
   * Lifeguard: the suspect hears first, so it can refute at once. Its other neighbours hear too
   * (in both modes): they probe it and, if they fail as well, confirm.
   */
  private tellAboutSuspicion(s: Suspicion, u: Update): void {
    const updates = [u];
    if (this.config.lifeguard) {
      this.send(s.peer, s.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates });
    }
    for (const n of s.neighbors) {
      if (n.id === this.id || n.id === s.peer) continue;
      this.send(n.id, n.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates });
    }
  }

  private confirm(s: Suspicion, from: PeerId): boolean {
    if (s.confirmers.has(from)) return false;
    s.confirmers.add(from);
    const c = this.config;
    if (c.lifeguard) {
      const timeout = suspicionTimeout(s.confirmers.size - 1, s.wanted, c.suspicionMinMs, c.suspicionMaxMs);
      s.deadline = Math.max(s.notBefore, s.startedAt + timeout);
    }
    return true;
  }

  private clearSuspicion(peer: PeerId, incarnation: number): void {
    if (this.suspicions.delete(peer)) this.event({ type: 'alive', peer, incarnation });
  }

  /** The peer spoke at `incarnation`: a suspicion of an older one is refuted. */
  private refuteBelow(peer: PeerId, incarnation: number): void {
    const s = this.suspicions.size > 0 ? this.suspicions.get(peer) : undefined;
    if (s && incarnation > s.incarnation) this.clearSuspicion(peer, incarnation);
  }

  private declareDead(now: number, s: Suspicion): void {
    this.suspicions.delete(s.peer);
    this.stats.deathsDeclared++;
    const u: Update = { kind: UpdateKind.Dead, peer: s.peer, incarnation: s.incarnation, from: this.id };
    this.forget(now, s.peer, s.incarnation, s.address);
    this.queue.enqueue(u);
    this.event({ type: 'dead', peer: s.peer, incarnation: s.incarnation, cause: 'timeout' });
    // The suspect's neighbours need not wait for their own timers; and if it is alive after all,
    // it hears it and refutes.
    const updates = [u];
    this.send(s.peer, s.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates });
    for (const n of s.neighbors) {
      if (n.id === this.id || n.id === s.peer) continue;
      this.send(n.id, n.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates });
    }
  }

  /**
   * Removes a dead peer from the views and remembers it, so stale records do not revive it, with
   * the address a reconnect will try: the view's, else `suspectAddress` (a suspect may have left
   * the views while its suspicion ran, and without an address it could never be tried again).
   */
  private forget(now: number, peer: PeerId, incarnation: number, suspectAddress: string, left = false): void {
    const entry = this.views.get(peer);
    const wasActive = entry?.view === 'active';
    if (entry) this.views.remove(peer);
    this.pending.delete(peer);
    const probe = this.probeOf(peer);
    if (probe) this.endProbe(probe);
    if (this.config.deadPeerMemorySize > 0) {
      const tombstone = {
        incarnation,
        seq: entry?.seq ?? 0,
        until: now + this.config.deadPeerMemoryMs,
        address: entry?.address ?? suspectAddress,
        left,
      };
      rememberNewest(this.dead, peer, tombstone, this.config.deadPeerMemorySize);
    }
    if (wasActive) {
      this.viewChanged = true;
      this.neighborDown(peer);
      this.fillActive(now);
    }
  }

  private pruneTombstones(now: number): void {
    for (const [peer, t] of this.dead) {
      if (t.until > now) break;
      this.dead.delete(peer);
    }
  }

  /** A suspicion or death of this peer reached it: outrank it with a higher incarnation. */
  private refute(incarnation: number, tell: readonly NeighborRef[]): void {
    if (incarnation >= this.inc) {
      this.inc = incarnation + 1;
      this.stats.refutations++;
      if (this.config.lifeguard) this.awareness.apply(1);
      this.event({ type: 'refuted', incarnation: this.inc });
      const u: Update = { kind: UpdateKind.Alive, peer: this.id, incarnation: this.inc, from: this.id };
      this.queue.enqueue(u);
      if (this.config.lifeguard) {
        for (const p of this.views.active) {
          this.send(p.id, p.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [u] });
        }
      }
    }
    if (!this.config.lifeguard) return;
    // Answer the accusers directly: they are the ones whose timers are running.
    const u: Update = { kind: UpdateKind.Alive, peer: this.id, incarnation: this.inc, from: this.id };
    for (const t of tell) {
      if (t.id === this.id || t.address === '') continue;
      this.send(t.id, t.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [u] });
    }
  }

  // ---- updates ----------------------------------------------------------------------------------

  private applyUpdates(now: number, updates: readonly Update[], sender: PeerId, senderAddress: string): void {
    for (let i = 0; i < updates.length; i++) {
      const u = updates[i];
      switch (u.kind) {
        case UpdateKind.Alive:
          this.onAlive(u);
          break;
        case UpdateKind.Suspect:
          this.onSuspect(now, u, sender, senderAddress);
          break;
        case UpdateKind.Dead:
          this.onDead(now, u, sender, senderAddress);
          break;
      }
    }
  }

  private onAlive(u: Update): void {
    if (u.peer === this.id) {
      // Someone holds a newer incarnation of us than we do (from before a restart): outrank it.
      if (u.incarnation > this.inc) this.refute(u.incarnation, []);
      return;
    }
    // A suspect may have dropped out of the views while its suspicion runs: a refutation must
    // still end the suspicion, or it turns into a death of a live peer.
    this.refuteBelow(u.peer, u.incarnation);
    const before = this.views.get(u.peer)?.seq;
    if (u.record) this.intake(u.record);
    const entry = this.views.get(u.peer);
    if (!entry) {
      const t = this.dead.get(u.peer);
      if (t && u.incarnation > t.incarnation) {
        // The death is refuted. Keep the incarnation that refuted it, or the peer, met again
        // through a record, would start below the verdict, and the verdict still on its way
        // round (a healed partition sends many) would kill it again.
        this.dead.delete(u.peer);
        this.views.heardOutside(u.peer, u.incarnation);
      }
      return;
    }
    const newerRecord = before !== undefined && entry.seq > before;
    if (u.incarnation > entry.incarnation) {
      entry.incarnation = u.incarnation;
    } else if (!newerRecord) {
      return;
    }
    // Relay only what changed something here, or two peers would echo an update forever.
    this.queue.enqueue(u);
  }

  private onSuspect(now: number, u: Update, sender: PeerId, senderAddress: string): void {
    if (u.peer === this.id) {
      const tell: NeighborRef[] = [{ id: sender, address: senderAddress }];
      if (u.from !== sender) tell.push({ id: u.from, address: this.views.get(u.from)?.address ?? '' });
      this.refute(u.incarnation, tell);
      return;
    }
    // This peer's own evidence is made here, never taken from others: a suspicion in its name
    // coming back is an echo, and one forged in its name must not make it a declarer.
    if (u.from === this.id) return;
    const entry = this.views.get(u.peer);
    if (!entry || u.incarnation < entry.incarnation) return;
    const s = this.suspicions.get(u.peer);
    if (s && s.incarnation === u.incarnation) {
      if (this.confirm(s, u.from)) this.queue.enqueue(u);
      return;
    }
    if (s && s.incarnation > u.incarnation) return;
    const l = this.lapsed.get(u.peer);
    if (l && (u.incarnation < l.incarnation || (u.incarnation === l.incarnation && l.accusers.has(u.from)))) return;
    if (s) this.suspicions.delete(u.peer);
    this.startSuspicion(now, entry, u.incarnation, u.from);
  }

  private onDead(now: number, u: Update, sender: PeerId, senderAddress: string): void {
    if (u.peer === this.id) {
      if (u.from === this.id) return;
      const tell: NeighborRef[] = [{ id: sender, address: senderAddress }];
      this.refute(u.incarnation, tell);
      return;
    }
    // A suspect may have dropped out of the views while its suspicion runs: it still counts.
    const entry = this.views.get(u.peer);
    const s = this.suspicions.get(u.peer);
    if (!entry && !s) return;
    if (u.incarnation < (entry ? entry.incarnation : (s as Suspicion).incarnation)) return;
    this.suspicions.delete(u.peer);
    this.forget(now, u.peer, u.incarnation, s?.address ?? '', u.from === u.peer);
    this.queue.enqueue(u);
    this.event({
      type: 'dead',
      peer: u.peer,
      incarnation: u.incarnation,
      cause: u.from === u.peer ? 'left' : 'gossip',
    });
  }

  // ---- records ----------------------------------------------------------------------------------

  /**
   * Every record that arrives goes through here. Bad signatures and older seqs are dropped and
   * counted; a newer record of a known peer replaces the old one (and refutes a suspicion); an
   * unknown peer gets an entry that is not yet in any view. Undefined: nothing to add.
   */
  private intake(blob: SignedRecordBlob, expectedPeer?: PeerId, incarnation = 0): PeerEntry | undefined {
    const view = this.verify(blob);
    if (!view) {
      this.stats.recordsRejectedBadSignature++;
      return undefined;
    }
    return this.intakeView(blob, view, expectedPeer, incarnation);
  }

  /** `incarnation`: what the record's sender knows of its peer's (0: nothing said). */
  private intakeView(
    blob: SignedRecordBlob,
    view: RecordView,
    expectedPeer?: PeerId,
    incarnation = 0,
  ): PeerEntry | undefined {
    if (expectedPeer !== undefined && view.peerId !== expectedPeer) {
      this.stats.recordsRejectedBadSignature++;
      return undefined;
    }
    if (view.peerId === this.id) return undefined;
    const existing = this.views.get(view.peerId);
    if (existing) {
      if (incarnation > existing.incarnation) this.heardIncarnation(existing, incarnation);
      if (view.seq < existing.seq) {
        this.stats.recordsRejectedStale++;
        return existing;
      }
      if (view.seq > existing.seq) {
        if (view.withdrawn || view.addresses.length === 0) {
          this.withdraw(view.peerId, existing.incarnation);
          return undefined;
        }
        if (!this.views.readdress(existing, view.addresses[0])) {
          this.dropForDiversity(existing, view.addresses[0]);
          return undefined;
        }
        existing.blob = blob;
        existing.seq = view.seq;
        this.event({ type: 'record', peer: existing.id, seq: view.seq });
        // A newer signed record is proof of life newer than any suspicion of the old one.
        this.clearSuspicion(existing.id, existing.incarnation);
      }
      return existing;
    }
    if (view.withdrawn || view.addresses.length === 0) return undefined;
    const t = this.dead.get(view.peerId);
    if (t) {
      // A record relayed by others must be newer than the dead one; a peer speaking for itself is
      // alive whatever we remembered (a healed partition, a refuted false death).
      if (view.seq <= t.seq && expectedPeer !== view.peerId) return undefined;
      // It was declared dead at t.incarnation, so it is at least there.
      this.dead.delete(view.peerId);
      this.views.heardOutside(view.peerId, t.incarnation);
    }
    const known = Math.max(incarnation, this.views.pastIncarnation(view.peerId));
    return newEntry(view.peerId, blob, view.seq, view.addresses[0], known);
  }

  /**
   * A peer relayed the incarnation it holds for one of ours: someone heard this peer speak at it,
   * so a suspicion of an older one is refuted, as by an alive update (which is not relayed again
   * here: the records it came with spread it).
   */
  private heardIncarnation(entry: PeerEntry, incarnation: number): void {
    entry.incarnation = incarnation;
    this.refuteBelow(entry.id, incarnation);
  }

  /**
   * A newer record moved a peer into an address group its view has no room for: it leaves the
   * views (a neighbour is told), or fresh identities could be admitted under scattered addresses
   * and then all move into one subnet. It may come back later while its group has room.
   */
  private dropForDiversity(entry: PeerEntry, address: string): void {
    this.suspicions.delete(entry.id);
    const wasActive = entry.view === 'active';
    this.views.remove(entry.id);
    this.viewChanged = true;
    if (wasActive) {
      this.send(entry.id, address, { type: 'disconnect', from: this.id, fromAddress: this.address });
      this.neighborDown(entry.id);
    }
  }

  private withdraw(peer: PeerId, incarnation: number): void {
    this.suspicions.delete(peer);
    const entry = this.views.get(peer);
    const wasActive = entry?.view === 'active';
    if (entry) this.views.remove(peer);
    if (wasActive) this.neighborDown(peer);
    this.event({ type: 'dead', peer, incarnation, cause: 'left' });
  }

  // ---- messages ---------------------------------------------------------------------------------

  /** Handles one incoming message. */
  handle(now: number, msg: Message): Effects {
    if (!this.running) return this.flush();
    switch (msg.type) {
      case 'ping':
        this.onPing(now, msg);
        break;
      case 'ack':
        this.onAck(now, msg);
        break;
      case 'ping-req':
        this.onPingReq(now, msg);
        break;
      case 'nack': {
        const probe = this.probeBySeq(msg.seq);
        if (probe) probe.nacks++;
        break;
      }
      case 'gossip':
        this.applyUpdates(now, msg.updates, msg.from, msg.fromAddress);
        break;
      case 'join':
        this.onJoin(now, msg);
        break;
      case 'forward-join':
        this.onForwardJoin(now, msg);
        break;
      case 'neighbor':
        this.onNeighbor(now, msg);
        break;
      case 'neighbor-reply':
        this.onNeighborReply(now, msg);
        break;
      case 'disconnect': {
        const entry = this.views.get(msg.from);
        if (entry?.view === 'active') {
          this.demote(entry);
          this.fillActive(now);
        }
        break;
      }
      case 'shuffle':
        this.onShuffle(msg);
        break;
      case 'shuffle-reply':
        this.integrate(msg, this.lastShuffle);
        break;
      case 'push-pull':
        this.onPushPull(now, msg);
        break;
      case 'flood':
        this.tree.receive(now, msg, this.views.active);
        break;
      case 'flood-prune':
        this.tree.pruned(msg.from, this.views.active);
        break;
      case 'flood-announce':
        this.tree.announced(now, msg.from, msg.ids, this.views.active);
        break;
      case 'flood-graft':
        this.tree.grafted(msg.from, msg.id, this.views.active);
        break;
      case 'introduce': {
        const entry = this.intake(msg.record);
        if (entry && !this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
        break;
      }
    }
    return this.flush();
  }

  private onPing(now: number, msg: Ping): void {
    if (msg.updates.length > 0) this.applyUpdates(now, msg.updates, msg.from, msg.fromAddress);
    let notNeighbor = false;
    if (msg.neighbor) {
      const entry = this.views.get(msg.from);
      if (entry && entry.view === 'active') {
        entry.probedUs = true;
      } else if (entry && !this.views.activeFull && this.views.addActive(entry, this.rng)) {
        // The pinger holds a link we do not: take it back if we can, or say so, so it repairs.
        this.linkUp(now, entry);
      } else {
        notNeighbor = true;
      }
    }
    this.send(msg.from, msg.fromAddress, {
      type: 'ack',
      from: this.id,
      fromAddress: this.address,
      seq: msg.seq,
      incarnation: this.inc,
      notNeighbor,
      updates: this.queue.take(this.config.maxPiggybackUpdates),
    });
  }

  private onAck(now: number, msg: Ack): void {
    if (msg.updates.length > 0) this.applyUpdates(now, msg.updates, msg.from, msg.fromAddress);
    const probe = this.probeBySeq(msg.seq);
    if (probe) {
      this.endProbe(probe);
      if (probe.kind === 'regular' && this.config.lifeguard) this.awareness.apply(-1);
      const entry = this.views.get(probe.target);
      if (entry && msg.incarnation > entry.incarnation) entry.incarnation = msg.incarnation;
      const s = this.suspicions.size > 0 ? this.suspicions.get(probe.target) : undefined;
      if (s && msg.incarnation > s.incarnation) this.clearSuspicion(probe.target, msg.incarnation);
    } else {
      const relay = this.relays.find((r) => r.seq === msg.seq);
      if (relay) {
        this.relays.splice(this.relays.indexOf(relay), 1);
        this.send(relay.origin, relay.originAddress, {
          type: 'ack',
          from: this.id,
          fromAddress: this.address,
          seq: relay.originSeq,
          incarnation: msg.incarnation,
          notNeighbor: false,
          updates: NO_UPDATES,
        });
      }
    }
    if (msg.notNeighbor) {
      const entry = this.views.get(msg.from);
      if (entry?.view === 'active') {
        this.demote(entry);
        this.fillActive(now);
      }
    }
  }

  private onPingReq(now: number, msg: PingReq): void {
    if (msg.updates.length > 0) this.applyUpdates(now, msg.updates, msg.from, msg.fromAddress);
    const seq = ++this.seqCounter;
    const timeout = this.config.probeTimeoutMs;
    this.relays.push({
      seq,
      origin: msg.from,
      originAddress: msg.fromAddress,
      originSeq: msg.seq,
      nackAt: now + timeout * NACK_AT_FRACTION,
      expiresAt: now + timeout,
      nackSent: false,
    });
    this.send(msg.target, msg.targetAddress, {
      type: 'ping',
      from: this.id,
      fromAddress: this.address,
      seq,
      neighbor: false,
      updates: this.queue.take(this.config.maxPiggybackUpdates),
    });
  }

  // ---- HyParView ----------------------------------------------------------------------------------

  private sendJoin(now: number): void {
    const candidates = this.views.passive.filter((p) => !this.pending.has(p.id));
    const contact = pick(this.rng, candidates);
    if (!contact) return;
    this.pending.set(contact.id, { deadline: now + this.config.neighborRequestTimeoutMs, kind: 'join' });
    this.send(contact.id, contact.address, {
      type: 'join',
      from: this.id,
      fromAddress: this.address,
      record: this.blob,
    });
  }

  private onJoin(now: number, msg: Join): void {
    const entry = this.intake(msg.record, msg.from);
    if (!entry) return;
    if (!this.takeIntoActive(now, entry, true)) {
      this.reply(entry, false);
      return;
    }
    this.reply(entry, true);
    this.linkUp(now, entry);
    const c = this.config;
    for (const p of this.views.active) {
      if (p.id === entry.id) continue;
      this.send(p.id, p.address, {
        type: 'forward-join',
        from: this.id,
        fromAddress: this.address,
        record: msg.record,
        ttl: c.activeRandomWalkLengthHops,
      });
    }
  }

  private onForwardJoin(now: number, msg: ForwardJoin): void {
    const entry = this.intake(msg.record);
    if (!entry || entry.view === 'active') return;
    const c = this.config;
    if (msg.ttl <= 0 || this.views.active.length <= 1) {
      this.acceptWalk(now, entry);
      return;
    }
    if (msg.ttl === c.passiveRandomWalkLengthHops && !this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
    const next = pick(
      this.rng,
      this.views.active.filter((p) => p.id !== msg.from && p.id !== entry.id),
    );
    if (!next) {
      this.acceptWalk(now, entry);
      return;
    }
    this.send(next.id, next.address, { ...msg, from: this.id, fromAddress: this.address, ttl: msg.ttl - 1 });
  }

  /** A join walk ends here: link with the newcomer, telling it with an unasked accepted reply. */
  private acceptWalk(now: number, entry: PeerEntry): void {
    if (this.takeIntoActive(now, entry)) {
      this.reply(entry, true);
      this.linkUp(now, entry);
    } else if (!this.views.get(entry.id)) {
      this.views.addPassive(entry, this.rng);
    }
  }

  private onNeighbor(now: number, msg: Neighbor): void {
    const entry = this.intake(msg.record, msg.from);
    if (!entry) return;
    if (entry.view === 'active' && this.views.get(entry.id) === entry) {
      this.reply(entry, true);
      return;
    }
    // Slots our own pending requests may fill are taken: accepting into them would make us drop
    // a link as soon as our own requests are answered, and the links would flap.
    const room = this.freePlaces() > 0 || msg.highPriority;
    if (room && this.takeIntoActive(now, entry, msg.highPriority)) {
      this.reply(entry, true);
      this.linkUp(now, entry);
      return;
    }
    this.refuse(now, entry);
    if (!this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
  }

  /**
   * Refuses a neighbour request, offering the asker the peer refused before it. When most views
   * are full, the few peers still short of a neighbour rarely ask each other by chance, and an
   * urgent request only moves the gap to the neighbour it evicts: a full peer that both ask
   * brings them together, and the gaps close in pairs.
   */
  private refuse(now: number, entry: PeerEntry): void {
    const before = this.lastRefused;
    const fresh =
      before && before.id !== entry.id && now - before.at <= this.referralWindowMs && !this.holdsActive(before.id);
    const referral = fresh ? before.blob : undefined;
    this.lastRefused = referral ? undefined : { id: entry.id, blob: entry.blob, at: now };
    if (referral) this.stats.referrals++;
    this.reply(entry, false, referral);
  }

  private get referralWindowMs(): number {
    return REFERRAL_WINDOW_TIMEOUTS * this.config.neighborRequestTimeoutMs;
  }

  private onNeighborReply(now: number, msg: NeighborReply): void {
    const asked = this.pending.get(msg.from);
    this.pending.delete(msg.from);
    const entry = this.intake(msg.record, msg.from);
    if (!entry) return;
    if (!msg.accepted) {
      if (!this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
      if (!asked) return;
      this.refusals++;
      if (msg.referral && this.askReferral(now, msg.referral)) return;
      // Try another candidate after a short pause, not at once: when every neighbour around is
      // full, asking again immediately would spin.
      this.nextFillAt = Math.min(this.nextFillAt, now + this.config.neighborRequestTimeoutMs / 4);
      return;
    }
    if (entry.view === 'active' && this.views.get(entry.id) === entry) return;
    // We asked while there was room; if it filled up meanwhile, decline rather than evict.
    const added = asked?.kind === 'neighbor' ? this.views.addActive(entry, this.rng) : this.takeIntoActive(now, entry);
    if (added) {
      this.linkUp(now, entry);
    } else {
      this.send(entry.id, entry.address, { type: 'disconnect', from: this.id, fromAddress: this.address });
      if (!this.views.get(entry.id)) this.views.addPassive(entry, this.rng);
    }
  }

  /** Asks the peer a refusal offered, if this one still has room for it; false if not asked. */
  private askReferral(now: number, referral: SignedRecordBlob): boolean {
    const v = this.views;
    if (this.freePlaces() <= 0) return false;
    const entry = this.intake(referral);
    if (!entry || entry.id === this.id || this.holdsActive(entry.id) || !this.askable(entry)) return false;
    if (!v.get(entry.id)) v.addPassive(entry, this.rng);
    this.askNeighbor(now, entry, false);
    return true;
  }

  /** A peer not already asked, not suspected, and whose address group has room in the active view. */
  private askable(p: PeerEntry): boolean {
    return !this.pending.has(p.id) && !this.suspicions.has(p.id) && this.views.groupHasRoom('active', p.group);
  }

  private askNeighbor(now: number, p: PeerEntry, highPriority: boolean): void {
    this.pending.set(p.id, { deadline: now + this.config.neighborRequestTimeoutMs, kind: 'neighbor' });
    this.stats.neighborRequests++;
    this.send(p.id, p.address, {
      type: 'neighbor',
      from: this.id,
      fromAddress: this.address,
      record: this.blob,
      highPriority,
    });
  }

  private reply(entry: PeerEntry, accepted: boolean, referral?: SignedRecordBlob): void {
    this.send(entry.id, entry.address, {
      type: 'neighbor-reply',
      from: this.id,
      fromAddress: this.address,
      record: this.blob,
      accepted,
      ...(referral ? { referral } : {}),
    });
  }

  /**
   * Adds to the active view, dropping a random active peer to make room. When the peer's address
   * group is at its cap, `isolated` (the peer has no neighbour at all) makes room by dropping one
   * of that group, so the cap holds and a lone peer still gets in; otherwise the answer is false.
   */
  private takeIntoActive(now: number, entry: PeerEntry, isolated = false): boolean {
    if (entry.view === 'active' && this.views.get(entry.id) === entry) return true;
    const groupFull = !this.views.groupHasRoom('active', entry.group);
    if (groupFull && !isolated) return false;
    if (groupFull || this.views.activeFull) {
      const victims = this.views.active.filter((p) => p.id !== entry.id && (!groupFull || p.group === entry.group));
      const victim = pick(this.rng, victims);
      if (!victim) return false;
      this.demote(victim);
      this.send(victim.id, victim.address, { type: 'disconnect', from: this.id, fromAddress: this.address });
      // Out of the active view it is probed no more: check it once, or a victim that died
      // unnoticed would linger as a passive candidate, neither declared dead nor forgotten.
      if (!this.probeOf(victim.id) && !this.suspicions.has(victim.id)) this.startProbe(now, victim, 'candidate');
    }
    this.pending.delete(entry.id);
    return this.views.addActive(entry, this.rng);
  }

  private neighborDown(peer: PeerId): void {
    this.tree.linkDown(peer);
    this.event({ type: 'neighbor-down', peer });
  }

  private demote(entry: PeerEntry): void {
    this.viewChanged = true;
    if (!this.views.addPassive(entry, this.rng)) this.views.remove(entry.id);
    this.neighborDown(entry.id);
  }

  private linkUp(now: number, entry: PeerEntry): void {
    this.isolatedSaid = false;
    this.refusals = 0;
    this.viewChanged = true;
    this.tree.linkUp(now, entry);
    this.event({ type: 'neighbor-up', peer: entry.id });
    // Swap records and neighbour lists at once, so suspicions of the new neighbour can be
    // confirmed by its other neighbours from the start.
    this.sendPushPull(entry, false);
  }

  /** Asks passive candidates to become neighbours until the active view would be full. */
  private fillActive(now: number): void {
    const v = this.views;
    const wanted = this.freePlaces();
    if (wanted <= 0) return;
    const candidates = v.passive.filter((p) => this.askable(p));
    if (candidates.length === 0) {
      if (v.active.length === 0 && this.pending.size === 0 && !this.isolatedSaid) {
        this.isolatedSaid = true;
        this.event({ type: 'isolated' });
      }
      return;
    }
    // Urgent when alone, or when full candidates keep refusing: the receiver then makes room.
    const highPriority = v.active.length === 0 || this.refusals >= this.config.refusalsBeforeUrgentNeighbor;
    if (highPriority) this.refusals = 0;
    for (const p of sample(this.rng, candidates, wanted)) this.askNeighbor(now, p, highPriority);
  }

  /**
   * Retries one remembered dead peer (Serf's reconnect). If it is alive, a partition has healed:
   * it hears it was declared dead (and refutes), and a high-priority link joins the two sides.
   */
  private reconnect(now: number): void {
    const candidates: PeerId[] = [];
    for (const [peer, t] of this.dead)
      if (!t.left && t.address !== '' && !this.pending.has(peer)) candidates.push(peer);
    const peer = pick(this.rng, candidates);
    if (peer === undefined) return;
    const t = this.dead.get(peer) as Tombstone;
    this.pending.set(peer, { deadline: now + this.config.neighborRequestTimeoutMs, kind: 'reconnect' });
    const u: Update = { kind: UpdateKind.Dead, peer, incarnation: t.incarnation, from: this.id };
    this.send(peer, t.address, { type: 'gossip', from: this.id, fromAddress: this.address, updates: [u] });
    this.send(peer, t.address, {
      type: 'neighbor',
      from: this.id,
      fromAddress: this.address,
      record: this.blob,
      highPriority: true,
    });
  }

  private shuffle(): void {
    const c = this.config;
    const target = pick(this.rng, this.views.active);
    if (!target) return;
    const active = sample(
      this.rng,
      this.views.active.filter((p) => p !== target),
      c.shuffleActiveCount,
    );
    const passive = sample(this.rng, this.views.passive, c.shufflePassiveCount);
    const sent = [...active, ...passive];
    this.lastShuffle = new Set(sent.map((p) => p.id));
    this.send(target.id, target.address, {
      type: 'shuffle',
      from: this.id,
      fromAddress: this.address,
      origin: this.id,
      originAddress: this.address,
      records: [this.blob, ...sent.map((p) => p.blob)],
      incarnations: [this.inc, ...sent.map((p) => p.incarnation)],
      ttl: c.shuffleWalkLengthHops,
    });
  }

  private onShuffle(msg: Shuffle): void {
    if (msg.origin === this.id) return;
    if (msg.ttl > 0 && this.views.active.length > 1) {
      const next = pick(
        this.rng,
        this.views.active.filter((p) => p.id !== msg.from && p.id !== msg.origin),
      );
      if (next) {
        this.send(next.id, next.address, { ...msg, from: this.id, fromAddress: this.address, ttl: msg.ttl - 1 });
        return;
      }
    }
    const answer = sample(
      this.rng,
      this.views.passive.filter((p) => p.id !== msg.origin),
      msg.records.length,
    );
    this.send(msg.origin, msg.originAddress, {
      type: 'shuffle-reply',
      from: this.id,
      fromAddress: this.address,
      records: answer.map((p) => p.blob),
      incarnations: answer.map((p) => p.incarnation),
    });
    this.integrate(msg, new Set(answer.map((p) => p.id)));
  }

  /** Shuffled records join the passive view, evicting what we sent away first. */
  private integrate(msg: Shuffle | ShuffleReply, evictFirst: ReadonlySet<PeerId>): void {
    const { records, incarnations } = msg;
    for (let i = 0; i < records.length; i++) {
      const entry = this.intake(records[i], undefined, incarnations?.[i]);
      if (!entry || this.views.get(entry.id)) continue;
      this.views.addPassive(entry, this.rng, evictFirst);
    }
  }

  private sendPushPull(target: PeerEntry, reply: boolean): void {
    this.send(target.id, target.address, {
      type: 'push-pull',
      from: this.id,
      fromAddress: this.address,
      ...this.ownAndNeighbours(target.id),
      reply,
      neighbor: this.holdsActive(target.id),
    });
  }

  private holdsActive(peer: PeerId): boolean {
    return this.views.get(peer)?.view === 'active';
  }

  /** Places in the active view not taken by a neighbour or held for a request of ours. */
  private freePlaces(): number {
    return this.views.activeSize - this.views.active.length - this.pending.size;
  }

  /** Push-pull's records: this peer's own first, then its active neighbours' but `except`'s. */
  private ownAndNeighbours(except: PeerId): WithRecords {
    const records = [this.blob];
    const incarnations = [this.inc];
    for (const p of this.views.active) {
      if (p.id === except) continue;
      records.push(p.blob);
      incarnations.push(p.incarnation);
    }
    return { records, incarnations };
  }

  private onPushPull(now: number, msg: PushPull): void {
    const neighbors: NeighborRef[] = [];
    let sender: PeerEntry | undefined;
    for (let i = 0; i < msg.records.length; i++) {
      const blob = msg.records[i];
      const view = this.verify(blob);
      if (!view) {
        this.stats.recordsRejectedBadSignature++;
        continue;
      }
      const incarnation = msg.incarnations?.[i];
      if (i === 0) {
        sender = this.intakeView(blob, view, msg.from, incarnation);
        continue;
      }
      if (view.addresses.length > 0) neighbors.push({ id: view.peerId, address: view.addresses[0] });
      const entry = this.intakeView(blob, view, undefined, incarnation);
      if (entry && !this.views.get(entry.id) && this.views.passive.length < this.views.passiveSize) {
        this.views.addPassive(entry, this.rng);
      }
    }
    if (!sender) return;
    if (msg.neighbor) this.answerLinkClaim(now, sender);
    // The sender's other neighbours: who can confirm a suspicion of it.
    if (this.views.get(sender.id) === sender) sender.neighbors = neighbors;
    if (!msg.reply) {
      this.send(msg.from, msg.fromAddress, {
        type: 'push-pull',
        from: this.id,
        fromAddress: this.address,
        ...this.ownAndNeighbours(msg.from),
        reply: true,
        neighbor: this.holdsActive(msg.from),
      });
    }
  }

  /**
   * The sender holds a link to us. If we do not, the link is one-sided (a disconnect and a request
   * passed each other on the way): take it back while there is room, else tell the sender to drop
   * it, so it looks for another neighbour now rather than at its next probe of us.
   */
  private answerLinkClaim(now: number, sender: PeerEntry): void {
    if (this.holdsActive(sender.id)) return;
    // A request of ours to the sender holds the place its link would take.
    const places = this.freePlaces() + (this.pending.has(sender.id) ? 1 : 0);
    if (places > 0 && this.takeIntoActive(now, sender)) {
      this.linkUp(now, sender);
      return;
    }
    this.send(sender.id, sender.address, { type: 'disconnect', from: this.id, fromAddress: this.address });
  }

  // ---- output -----------------------------------------------------------------------------------

  private send(to: PeerId, address: string, message: Message): void {
    (this.outMessages ??= []).push({ to, address, message });
  }

  private event(e: MembershipEvent): void {
    (this.outEvents ??= []).push(e);
  }

  private flush(): Effects {
    const effects: Effects = { messages: this.outMessages ?? NO_MESSAGES, events: this.outEvents ?? NO_EVENTS };
    this.outMessages = null;
    this.outEvents = null;
    return effects;
  }
}

/** The factory: dependencies and options as separate arguments. */
export function createMembershipNode(components: MembershipComponents, init: MembershipInit): MembershipNode {
  return new MembershipNode(components, init);
}
