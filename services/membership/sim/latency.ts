/** One-way link latency, sampled per message from a distribution given as data. */
import type { Rng } from '../rng';

export type LatencySpec =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  /** Log-normal around a median: most messages near it, a long tail (sigma 0.5 → p99 ≈ 3.2x median). */
  | { readonly kind: 'lognormal'; readonly medianMs: number; readonly sigma: number; readonly minMs: number };

export type LatencySampler = (rng: Rng) => number;

export function latencySampler(spec: LatencySpec): LatencySampler {
  switch (spec.kind) {
    case 'fixed':
      return () => spec.ms;
    case 'uniform':
      return (rng) => spec.minMs + rng.next() * (spec.maxMs - spec.minMs);
    case 'lognormal': {
      const mu = Math.log(spec.medianMs);
      return (rng) => spec.minMs + Math.exp(mu + spec.sigma * standardNormal(rng));
    }
  }
}

/** Box-Muller; one draw of two, kept simple. */
function standardNormal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
