/**
 * The random source the membership core is given. The core never calls Math.random(): every
 * random choice goes through an `Rng`, so a seeded one replays the same run.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** A whole number in [0, bound); bound must be at least 1. */
  int(bound: number): number;
}

/**
 * sfc32 (Chris Doty-Humphrey's small fast counting generator): 128 bits of state, passes
 * PractRand to many terabytes, and costs a few integer operations a draw. Good enough for
 * simulation and for choosing probe targets; not for keys.
 */
export class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // Spread one 32-bit seed over the state with splitmix32, then discard the first outputs:
    // nearby seeds must not give nearby streams.
    let s = seed >>> 0;
    const mix = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  next(): number {
    return this.nextUint32() / 4_294_967_296;
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** A new generator whose stream is independent of this one's (seeded from it). */
  fork(): Sfc32 {
    return new Sfc32(this.nextUint32());
  }
}

export function createRng(seed: number): Sfc32 {
  return new Sfc32(seed);
}

/** Up to `count` distinct items of `items`, in random order; `items` is not changed. */
export function sample<T>(rng: Rng, items: readonly T[], count: number): T[] {
  const n = items.length;
  if (count >= n) return shuffled(rng, items);
  const picked: T[] = [];
  if (count <= 0) return picked;
  if (count * 4 <= n) {
    // Few of many: draw indices and redraw repeats; no copy of the list.
    const chosen: number[] = [];
    while (chosen.length < count) {
      const i = rng.int(n);
      if (!chosen.includes(i)) {
        chosen.push(i);
        picked.push(items[i]);
      }
    }
    return picked;
  }
  // Partial Fisher-Yates over a copy.
  const pool = items.slice();
  for (let i = 0; i < count; i++) {
    const j = i + rng.int(n - i);
    const tmp = pool[i];
    pool[i] = pool[j];
    pool[j] = tmp;
    picked.push(pool[i]);
  }
  return picked;
}

export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}

export function pick<T>(rng: Rng, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[rng.int(items.length)];
}
