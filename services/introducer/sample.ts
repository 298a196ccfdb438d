/**
 * The live peers a Join answers with: the introducer's own record first, then peers from its own
 * views (whom it knows to be alive) and from the directory, in random order, at most
 * `maxPerGroup` of one address group, so one subnet cannot fill a newcomer's first contacts.
 * Pure: randomness comes in.
 */
import { addressGroup, shuffled, type Rng } from '../membership';

export interface Candidate<T> {
  readonly peerId: string;
  readonly address: string;
  readonly item: T;
}

export interface SampleInput<T> {
  readonly own: T;
  /** Peers from the introducer's views: preferred, they were heard from lately. */
  readonly fromViews: readonly Candidate<T>[];
  /** Peers from the directory. */
  readonly fromDirectory: readonly Candidate<T>[];
  /** Peers never to name: the newcomer itself, the introducer itself. */
  readonly exclude: ReadonlySet<string>;
  /** Records in the answer, the introducer's own included. */
  readonly size: number;
  readonly maxPerGroup: number;
}

export function diverseSample<T>(rng: Rng, input: SampleInput<T>): T[] {
  const out: T[] = [input.own];
  const taken = new Set(input.exclude);
  const perGroup = new Map<string, number>();
  const offer = (candidates: readonly Candidate<T>[]) => {
    for (const c of shuffled(rng, candidates)) {
      if (out.length >= input.size) return;
      if (taken.has(c.peerId)) continue;
      const group = addressGroup(c.address);
      const n = perGroup.get(group) ?? 0;
      if (n >= input.maxPerGroup) continue;
      perGroup.set(group, n + 1);
      taken.add(c.peerId);
      out.push(c.item);
    }
  };
  offer(input.fromViews);
  offer(input.fromDirectory);
  return out;
}
