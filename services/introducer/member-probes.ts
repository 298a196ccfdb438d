/**
 * When to probe each member of an introducer's share, and what a probe's outcome means. Pure: the
 * time and the randomness come in as arguments, so it is table-tested without timers.
 *
 * Every member is probed once per interval, its first probe at a random phase so that a share of
 * thousands does not go out in one burst. A probe that gets no ack, direct or indirect, makes the
 * member a suspect; it stays one while later probes fail, and once it has been suspected for the
 * suspicion time it is to be evicted. Any ack clears it. A rumour (gossip says the member died)
 * brings its next probe forward, but only a failed probe of the introducer's own counts.
 */

export type ProbeVerdict =
  /** The member answered. */
  | 'alive'
  /** It answered after having been suspected. */
  | 'recovered'
  /** A first failure: it is suspected now. */
  | 'suspected'
  /** It failed again, not yet for the whole suspicion time. */
  | 'still-suspected'
  /** It has failed for the whole suspicion time: evict it. */
  | 'dead';

interface MemberState {
  nextProbeAt: number;
  suspectSince?: number;
  probing: boolean;
}

export interface ProbeTiming {
  readonly intervalMs: number;
  readonly suspicionMs: number;
}

export class MemberProbes {
  private readonly members = new Map<string, MemberState>();
  private suspectCount = 0;

  constructor(private readonly timing: ProbeTiming) {}

  get size(): number {
    return this.members.size;
  }

  get suspects(): number {
    return this.suspectCount;
  }

  has(member: string): boolean {
    return this.members.has(member);
  }

  ids(): IterableIterator<string> {
    return this.members.keys();
  }

  /** Starts probing a member, first at a random phase of the interval (`random` in [0, 1)). */
  add(member: string, now: number, random: number): void {
    if (this.members.has(member)) return;
    this.members.set(member, { nextProbeAt: now + random * this.timing.intervalMs, probing: false });
  }

  remove(member: string): void {
    const state = this.members.get(member);
    if (!state) return;
    if (state.suspectSince !== undefined) this.suspectCount--;
    this.members.delete(member);
  }

  /** Probes the member as soon as possible (gossip says it died: check for ourselves). */
  expedite(member: string, now: number): void {
    const state = this.members.get(member);
    if (state && !state.probing) state.nextProbeAt = Math.min(state.nextProbeAt, now);
  }

  /**
   * The members whose probe is due and not already running, marked as running; their next probe
   * is one interval after this one started.
   */
  takeDue(now: number): string[] {
    const due: string[] = [];
    for (const [member, state] of this.members) {
      if (state.probing || state.nextProbeAt > now) continue;
      state.probing = true;
      // On time, keep the member's phase; late (a stalled loop), start a new interval from now.
      const next = state.nextProbeAt + this.timing.intervalMs;
      state.nextProbeAt = next > now ? next : now + this.timing.intervalMs;
      due.push(member);
    }
    return due;
  }

  /** When the next probe is due (Infinity with no member waiting). */
  nextDueAt(): number {
    let next = Infinity;
    for (const state of this.members.values()) if (!state.probing && state.nextProbeAt < next) next = state.nextProbeAt;
    return next;
  }

  /** A due probe that could not be sent (too many in flight): no verdict, due again next interval. */
  release(member: string): void {
    const state = this.members.get(member);
    if (state) state.probing = false;
  }

  /** A probe ended; undefined when the member was removed meanwhile. */
  settle(member: string, acked: boolean, now: number): ProbeVerdict | undefined {
    const state = this.members.get(member);
    if (!state) return undefined;
    state.probing = false;
    if (acked) {
      if (state.suspectSince === undefined) return 'alive';
      state.suspectSince = undefined;
      this.suspectCount--;
      return 'recovered';
    }
    if (state.suspectSince === undefined) {
      state.suspectSince = now;
      this.suspectCount++;
      return this.timing.suspicionMs === 0 ? 'dead' : 'suspected';
    }
    return now - state.suspectSince >= this.timing.suspicionMs ? 'dead' : 'still-suspected';
  }
}
