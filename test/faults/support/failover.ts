/**
 * The client a fault test holds the system to: it calls one replica, and when the call fails in a
 * way another replica could fix (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED: the replica is gone,
 * hung or going), it makes the same call once on the next replica. An error that survives that
 * retry, or one another replica could not fix (any other code), is one a client would see.
 */
import { ServiceError, status } from '@grpc/grpc-js';

/** Codes that say "this replica, now" rather than "this request": another replica may answer. */
export const RETRY_ELSEWHERE: ReadonlySet<number> = new Set([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
]);

/**
 * Channel options for a client of replicas that come and go. grpc-js backs off reconnecting up to
 * 120 s by default, and fails calls at once meanwhile: a replica restarted after a few seconds
 * would stay unreachable to such a client for as long again. These redial within a second.
 */
export const REPLICA_CHANNEL_OPTIONS = Object.freeze({
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1_000,
});

export function codeName(error: unknown): string {
  const code = (error as ServiceError).code;
  return code === undefined ? `not a gRPC error: ${(error as Error).message}` : (status[code] ?? String(code));
}

export interface FailoverTally {
  /** Calls made (each counted once, however many replicas it took). */
  calls: number;
  /** Calls that failed on the first replica and succeeded on the next. */
  fixedByRetry: number;
  /** Calls that failed after the retry, or with a code no other replica could fix, by code. */
  failed: Map<string, number>;
  /** The first few persistent errors, for failure messages. */
  examples: string[];
}

export function newTally(): FailoverTally {
  return { calls: 0, fixedByRetry: 0, failed: new Map(), examples: [] };
}

export function failedCount(tally: FailoverTally): number {
  let sum = 0;
  for (const n of tally.failed.values()) sum += n;
  return sum;
}

/**
 * Makes `call` on replica `first`, and once more on the next replica when the error is one of
 * RETRY_ELSEWHERE. Resolves with the value, or undefined when the call failed for good (counted
 * in the tally, along with the code); `expected` codes are answers, not failures (e.g. NOT_FOUND
 * for a peer that is not registered), and resolve with undefined without counting.
 */
export async function withFailover<C, T>(
  replicas: readonly C[],
  first: number,
  call: (replica: C) => Promise<T>,
  tally: FailoverTally,
  expected: ReadonlySet<number> = new Set(),
): Promise<T | undefined> {
  tally.calls++;
  let lastError: unknown;
  for (let attempt = 0; attempt < Math.min(2, replicas.length); attempt++) {
    try {
      const value = await call(replicas[(first + attempt) % replicas.length]!);
      if (attempt > 0) tally.fixedByRetry++;
      return value;
    } catch (error) {
      lastError = error;
      const code = (error as ServiceError).code;
      if (expected.has(code)) return undefined;
      if (!RETRY_ELSEWHERE.has(code)) break;
    }
  }
  const name = codeName(lastError);
  tally.failed.set(name, (tally.failed.get(name) ?? 0) + 1);
  if (tally.examples.length < 5) tally.examples.push(`${name}: ${(lastError as Error).message}`);
  return undefined;
}

export function describeTally(tally: FailoverTally): string {
  const failed = [...tally.failed].map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  const examples = tally.examples.map((e) => `\n      e.g. ${e}`).join('');
  return `${tally.calls} calls, ${tally.fixedByRetry} fixed by a retry on the other replica, failed for good: ${failed}${examples}`;
}
