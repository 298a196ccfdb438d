import { RateLimiter } from './rate-limiter';

/** A limiter on a clock the test moves, in milliseconds. */
function limiter(ratePerSecond: number, burst: number, maxKeys?: number) {
  let now = 0;
  const limits = new RateLimiter(ratePerSecond, burst, () => now, maxKeys);
  const takes = (key: string, n: number) => Array.from({ length: n }, () => limits.take(key)).filter(Boolean).length;
  return { limits, takes, advance: (ms: number) => (now += ms) };
}

describe('RateLimiter', () => {
  it('allows a burst at once, then the sustained rate as time passes', () => {
    const { takes, advance } = limiter(10, 20);
    expect(takes('a', 30)).toBe(20);
    advance(500);
    expect(takes('a', 30)).toBe(5);
    advance(60_000);
    // Refilling stops at the burst.
    expect(takes('a', 30)).toBe(20);
  });

  it('keeps a bucket per key', () => {
    const { takes } = limiter(1, 3);
    expect(takes('a', 5)).toBe(3);
    expect(takes('b', 5)).toBe(3);
    expect(takes('a', 1)).toBe(0);
  });

  it('holds at most maxKeys buckets, evicting the least recently used', () => {
    const { limits, takes } = limiter(1, 2, 3);
    takes('busy', 2);
    takes('b', 1);
    takes('c', 1);
    // Used again, the busy key is now the most recent: the fresh keys evict b and c, not it.
    expect(takes('busy', 1)).toBe(0);
    takes('d', 1);
    takes('e', 1);
    expect(limits.size).toBe(3);
    expect(takes('busy', 1)).toBe(0);
    // b was evicted: it starts again from a full bucket.
    expect(takes('b', 3)).toBe(2);
  });

  it('cannot be reset by a stream of fresh keys that fills the table', () => {
    const { limits, takes } = limiter(1, 5, 100);
    expect(takes('abuser', 10)).toBe(5);
    for (let i = 0; i < 10_000; i++) {
      limits.take(`fresh-${i}`);
      // The abuser keeps calling between its fresh keys: its empty bucket stays.
      if (i % 50 === 0) expect(limits.take('abuser')).toBe(false);
    }
    expect(limits.size).toBe(100);
  });
});
