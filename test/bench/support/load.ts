/**
 * A closed-loop load generator: `concurrency` workers each issue the next call when one returns,
 * for `durationMs` or until `calls` calls were made.
 */
import { percentile } from './stats';

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export async function closedLoop(
  options: { concurrency: number; durationMs: number; warmupMs?: number; calls?: number },
  call: (worker: number, index: number) => Promise<unknown>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let index = 0;
  let measuring = false;
  const warmupEnd = Date.now() + (options.warmupMs ?? 300);
  const end = warmupEnd + options.durationMs;
  let measuredStart = 0;
  const limit = options.calls ?? Infinity;
  const worker = async (id: number) => {
    while (Date.now() < end && index < limit) {
      const started = performance.now();
      try {
        await call(id, index++);
      } catch {
        if (measuring) errors++;
      }
      const now = Date.now();
      if (now >= warmupEnd) {
        if (!measuring) {
          measuring = true;
          measuredStart = performance.now();
        }
        latencies.push(performance.now() - started);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, id) => worker(id)));
  const seconds = (performance.now() - measuredStart) / 1_000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    calls: latencies.length,
    errors,
    rps: latencies.length / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}
