/**
 * Open Watch streams of one directory process: admission against the watcher limits (in all and
 * per client address), and ending them all at shutdown so clients resume on another replica.
 */
import { ResourceExhaustedError } from '../common/errors';

export interface OpenWatch {
  /** Ends the stream with this error as its status. */
  end(error: Error): void;
}

export class WatchRegistry {
  private readonly open = new Set<OpenWatch>();
  private readonly perClient = new Map<string, number>();

  constructor(
    private readonly limits: { readonly maxWatchers: number; readonly maxWatchersPerClient: number },
    private readonly onCountChange: (count: number) => void = () => {},
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Throws ResourceExhaustedError past a limit; returns the function that releases the slot. */
  admit(client: string, watch: OpenWatch): () => void {
    const held = this.perClient.get(client) ?? 0;
    if (this.open.size >= this.limits.maxWatchers) {
      throw new ResourceExhaustedError(
        `this directory serves at most ${this.limits.maxWatchers} watches at once; retry later or on another replica`,
      );
    }
    if (held >= this.limits.maxWatchersPerClient) {
      throw new ResourceExhaustedError(
        `client ${client} already holds ${held} watches, the most one client may; share one watch per network`,
      );
    }
    this.open.add(watch);
    this.perClient.set(client, held + 1);
    this.onCountChange(this.open.size);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open.delete(watch);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
      this.onCountChange(this.open.size);
    };
  }

  endAll(error: Error): void {
    for (const watch of [...this.open]) watch.end(error);
  }
}
