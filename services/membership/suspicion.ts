/**
 * Suspicion timeouts (Lifeguard). Pure functions: the node decides when to call them and what to
 * do with the answer.
 */

/**
 * Milliseconds left before a suspicion becomes a death, after `elapsedMs` with `confirmations`
 * independent confirmations of the `wanted` that bring it to its minimum:
 *
 *   timeout = max(minMs, maxMs − (maxMs − minMs) · log(C + 1) / log(K + 1))
 *
 * A lone accuser waits maxMs; each further peer that independently suspects the same incarnation
 * shortens the wait, logarithmically, down to minMs. With K = 0 the timeout is minMs. The answer
 * may be negative: the deadline has passed. (memberlist suspicion.go remainingSuspicionTime.)
 */
export function remainingSuspicionTime(
  confirmations: number,
  wanted: number,
  elapsedMs: number,
  minMs: number,
  maxMs: number,
): number {
  return suspicionTimeout(confirmations, wanted, minMs, maxMs) - elapsedMs;
}

/** The whole timeout for `confirmations` of `wanted`, before any time has elapsed. */
export function suspicionTimeout(confirmations: number, wanted: number, minMs: number, maxMs: number): number {
  if (wanted <= 0 || confirmations >= wanted) return minMs;
  const frac = Math.log(confirmations + 1) / Math.log(wanted + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  return Math.max(minMs, Math.floor(raw));
}
