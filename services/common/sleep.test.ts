import { getEventListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { sleepUnlessAborted } from './sleep';

describe('sleepUnlessAborted', () => {
  it('leaves no abort listener behind after the wait ends, however many waits share a signal', async () => {
    const abort = new AbortController();
    for (let i = 0; i < 20; i++) {
      await sleepUnlessAborted(1, abort.signal);
      expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    }
  });

  it('ends at once when the signal aborts, and when it had already aborted', async () => {
    const abort = new AbortController();
    const started = performance.now();
    const waiting = sleepUnlessAborted(60_000, abort.signal);
    setTimeout(() => abort.abort(), 10);
    await waiting;
    await sleepUnlessAborted(60_000, abort.signal);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });

  it('waits the time out without a signal', async () => {
    const started = performance.now();
    await sleepUnlessAborted(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });
});
