/**
 * Turns on the event loop, one per iteration. Replies that arrive together (a Redis pipeline
 * answering a hundred List calls at once) resume their callers in one run of microtasks, which
 * holds the loop until the last is done: no request, timer or socket is served meanwhile. A
 * caller that takes a turn before a large piece of work runs it in an iteration of its own, so
 * the I/O that arrived meanwhile is served between two such pieces.
 */
export class LoopTurns {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  /** Resolves in a later iteration of the event loop, after the turns taken before it. */
  take(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** Callers waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // An immediate scheduled from an immediate runs in the next iteration, after its I/O poll.
    setImmediate(() => {
      this.scheduled = false;
      const next = this.waiting.shift();
      if (this.waiting.length > 0) this.schedule();
      next?.();
    });
  }
}
