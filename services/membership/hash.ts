/**
 * A string hash for choices every process must make alike (which introducer probes a member,
 * where in an interval a peer announces). It lives in the membership core, which imports nothing
 * from outside its directory; the introducer uses it from here.
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
