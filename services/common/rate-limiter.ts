import { rememberNewest } from '../membership/bounded-memory';

/**
 * Token buckets per key (a peer id, a client address): `ratePerSecond` sustained, `burst` at once.
 * The table holds at most `maxKeys` buckets, in order of last use: a new key past the bound
 * evicts the least recently used one, in constant time. A stream of fresh identities can neither
 * grow the table nor make each call scan it, and the busy keys it would most like to reset are
 * the last to go.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: () => number,
    private readonly maxKeys = 10_000,
  ) {}

  /** How many keys have a bucket. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1_000) * this.ratePerSecond);
      bucket.at = now;
    } else {
      bucket = { tokens: this.burst, at: now };
    }
    // Moved to the newest end; past the bound the least recently used key goes.
    rememberNewest(this.buckets, key, bucket, this.maxKeys);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
