/**
 * Local health (Lifeguard's "awareness"). A peer that misses the nacks it was promised, or has to
 * refute suspicions of itself, is more likely the problem than the peers it is judging: it slows
 * its own probing and waits longer for answers, by a factor of (score + 1).
 */
export class Awareness {
  private current = 0;

  constructor(private readonly max: number) {}

  get score(): number {
    return this.current;
  }

  /** Adds `delta` within [0, max]; returns whether the score changed. */
  apply(delta: number): boolean {
    const next = Math.min(this.max, Math.max(0, this.current + delta));
    if (next === this.current) return false;
    this.current = next;
    return true;
  }

  /** `ms` scaled by the current health: ms · (score + 1). */
  scale(ms: number): number {
    return ms * (this.current + 1);
  }
}

/**
 * The score change after a failed probe (memberlist state.go probeNode). When relays were asked
 * and promised nacks, each missing nack counts against us: the relays could not reach us or we
 * could not hear them. With no relays, any failure counts once.
 */
export function failedProbeDelta(expectedNacks: number, nacksReceived: number): number {
  if (expectedNacks > 0) return Math.max(0, expectedNacks - nacksReceived);
  return 1;
}
