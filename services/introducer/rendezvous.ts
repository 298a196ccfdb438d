/**
 * Rendezvous (highest-random-weight) hashing: which live introducer probes which member. Every
 * replica computes the same owner from the same list, with no coordination; when an introducer
 * joins or leaves, only the members it wins or held change hands (about 1/replicas of them).
 */

/**
 * A 53-bit hash of a string: two 32-bit multiply-xorshift lanes over its UTF-16 code units,
 * mixed at the end. Not cryptographic; well spread, fast, and the same on every replica.
 */
export function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2_654_435_761);
    h2 = Math.imul(h2 ^ c, 1_597_334_677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2_246_822_507) ^ Math.imul(h2 ^ (h2 >>> 13), 3_266_489_909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2_246_822_507) ^ Math.imul(h1 ^ (h1 >>> 13), 3_266_489_909);
  return 4_294_967_296 * (2_097_151 & h2) + (h1 >>> 0);
}

/** The weight of `introducer` for `member`; ties (astronomically rare) go to the smaller id. */
function weight(introducer: string, member: string): number {
  return hash53(`${introducer}/${member}`);
}

/**
 * The introducer that probes `member`: the one of highest weight, never the member itself (an
 * introducer is probed by another). Undefined when no other introducer is live.
 */
export function rendezvousOwner(member: string, introducers: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const introducer of introducers) {
    if (introducer === member) continue;
    const w = weight(introducer, member);
    if (w > bestWeight || (w === bestWeight && best !== undefined && introducer < best)) {
      best = introducer;
      bestWeight = w;
    }
  }
  return best;
}
