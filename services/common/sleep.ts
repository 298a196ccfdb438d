/**
 * Waits `ms`, or until `signal` aborts, whichever comes first; never rejects. The abort listener
 * goes when the wait ends either way: a retry loop that sleeps on one long-lived signal would
 * otherwise leave a listener (and its timer's closure) behind at every retry.
 */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
