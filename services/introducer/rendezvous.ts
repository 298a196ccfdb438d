/**
 * Rendezvous (highest-random-weight) hashing: which live introducer probes which member. Every
 * replica computes the same owner from the same list, with no coordination; when an introducer
 * joins or leaves, only the members it wins or held change hands (about 1/replicas of them).
 */
import { hash53 } from '../membership/hash';

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
