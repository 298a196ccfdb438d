/**
 * Retry delays for bootstrap sources: exponential growth with "equal jitter". Pure: the random
 * source comes in as an argument, so a seeded one replays the same delays.
 *
 * Equal jitter, not full jitter: full jitter draws from [0, cap] and can keep drawing delays near
 * zero, so a host that knows nobody could hammer its seeds. Equal jitter keeps a floor of half
 * the cap and still spreads hosts that restart together (after a rollout, say) over the other
 * half. (See the AWS Architecture Blog, "Exponential Backoff And Jitter".)
 */

export interface BackoffPolicy {
  /** Cap of the first delay, in ms; a whole number of at least 1. */
  readonly initialMs: number;
  /** Largest cap any attempt gets, in ms; at least initialMs. */
  readonly maxMs: number;
  /** Growth of the cap per attempt; at least 1 (1 means a constant cap). */
  readonly multiplier: number;
}

/** 250 ms, 500 ms, 1 s, ... up to 30 s: about eight attempts before the cap. */
export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 250, maxMs: 30_000, multiplier: 2 });

/**
 * The delay before retry number `attempt` (0 for the first retry), in whole ms:
 *
 *   cap   = min(maxMs, floor(initialMs · multiplier^attempt))
 *   delay = ceil(cap / 2) + a uniform whole number in [0, floor(cap / 2)]
 *
 * so the delay lies in [ceil(cap / 2), cap], is never 0, and the cap never falls as attempts
 * rise. `random` returns a float in [0, 1), like Math.random.
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  checkPolicy(policy);
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new RangeError(`attempt must be a whole number from 0, got ${attempt}`);
  }
  // multiplier^attempt may overflow to Infinity; min() turns that into maxMs.
  const cap = Math.min(policy.maxMs, Math.floor(policy.initialMs * policy.multiplier ** attempt));
  const floor = Math.ceil(cap / 2);
  return Math.min(cap, floor + Math.floor(random() * (cap - floor + 1)));
}

function checkPolicy({ initialMs, maxMs, multiplier }: BackoffPolicy): void {
  if (!Number.isSafeInteger(initialMs) || initialMs < 1) {
    throw new RangeError(`backoff initialMs must be a whole number of ms from 1, got ${initialMs}`);
  }
  if (!Number.isSafeInteger(maxMs) || maxMs < initialMs) {
    throw new RangeError(`backoff maxMs must be a whole number of ms from initialMs (${initialMs}), got ${maxMs}`);
  }
  if (!Number.isFinite(multiplier) || multiplier < 1) {
    throw new RangeError(`backoff multiplier must be a finite number from 1, got ${multiplier}`);
  }
}
