/**
 * A prom-client Counter for per-message paths. prom-client hashes and checks the label set on
 * every increment, through a child from `labels()` too (it only binds the arguments): on a path
 * that counts every gRPC message and every byte, that cost more than the work being counted.
 * Here a label set is resolved once, into a child that adds to a plain number, and the sums reach
 * the counter whenever it is read (its collect, which every scrape and `get()` runs), so a reader
 * sees every increment made before it read.
 */
import { Counter, type CounterConfiguration, type LabelValues } from 'prom-client';

export interface CounterChild {
  inc(value?: number): void;
}

interface Entry<T extends string> {
  readonly labels: LabelValues<T>;
  /** Added since the last read. */
  value: number;
  readonly child: CounterChild;
}

export class BatchedCounter<T extends string = string> extends Counter<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(config: CounterConfiguration<T>) {
    const collect = config.collect;
    super({
      ...config,
      collect(this: Counter<T>) {
        (this as BatchedCounter<T>).flush();
        return collect?.call(this);
      },
    });
  }

  /**
   * The child for `labels`, made once per label set and kept. Its labels are checked now (the
   * series appears at 0), not at the next read.
   */
  child(labels: LabelValues<T>): CounterChild {
    const key = keyOf(labels);
    let entry = this.entries.get(key);
    if (!entry) {
      const made: Entry<T> = {
        labels: { ...labels },
        value: 0,
        child: { inc: (value = 1) => void (made.value += value) },
      };
      this.inc(made.labels, 0);
      this.entries.set(key, (entry = made));
    }
    return entry.child;
  }

  private flush(): void {
    for (const entry of this.entries.values()) {
      if (entry.value === 0) continue;
      const value = entry.value;
      entry.value = 0;
      this.inc(entry.labels, value);
    }
  }
}

/** The label values in a fixed order: the same set gives the same key however it was built. */
function keyOf(labels: object): string {
  const names = Object.keys(labels);
  if (names.length === 1) return `${names[0]}=${String((labels as Record<string, unknown>)[names[0]])}`;
  names.sort();
  let key = '';
  for (const name of names) key += `${name}=${String((labels as Record<string, unknown>)[name])}\u0000`;
  return key;
}
