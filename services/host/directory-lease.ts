/**
 * The host's lease in the directory: register at start, renew every third of the TTL, register
 * again when the lease is lost (NOT_FOUND: it expired, or the store was flushed), and deregister
 * with a signed withdrawn record at shutdown. While the directory is down the host keeps retrying
 * with backoff and goes on gossiping; nothing here is on the membership path.
 */
import { ServiceError, status } from '@grpc/grpc-js';
import type { Logger } from '../common/logging';
import type { DirectoryClient } from '../client/directory-client';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import { backoffDelay, DEFAULT_BACKOFF } from './bootstrap/backoff';
import type { HostMetrics } from './metrics';

export interface DirectoryLeaseOptions {
  readonly client: DirectoryClient;
  readonly ttlSeconds: number;
  /** The host's current record. */
  readonly record: () => SignedRecord;
  /**
   * Signs and adopts a record with a higher seq. A lease that ended by expiry or eviction leaves a
   * seq floor, so the record it held cannot be registered again: the host issues a newer one.
   */
  readonly fresherRecord: () => SignedRecord;
  /** A signed withdrawn record with a newer seq, made at shutdown. */
  readonly withdrawn: () => SignedRecord;
  readonly metrics: HostMetrics;
  readonly log: Logger;
  readonly random?: () => number;
}

export class DirectoryLease {
  private leaseId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: DirectoryLeaseOptions) {}

  /** Whether the host holds a lease now. */
  get registered(): boolean {
    return this.leaseId !== undefined;
  }

  start(): void {
    this.run(0);
  }

  /** Stops renewing and deregisters (best effort: the lease ends by itself otherwise). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    if (this.leaseId === undefined) return;
    try {
      await this.options.client.deregister(this.options.withdrawn());
      this.options.log.info('deregistered from the directory');
    } catch (error) {
      this.options.log.warn(
        { err: (error as Error).message },
        'could not deregister; the directory forgets this host when its lease ends',
      );
    }
    this.leaseId = undefined;
  }

  private run(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.step();
    }, delayMs);
    this.timer.unref();
  }

  /** Registers the current record, or a fresher one when the directory refuses it as stale. */
  private async register(): Promise<{ leaseId: string; ttlSeconds: number }> {
    const { client, ttlSeconds, log } = this.options;
    try {
      return await client.register(this.options.record(), ttlSeconds);
    } catch (error) {
      if ((error as ServiceError).code !== status.FAILED_PRECONDITION) throw error;
      log.info(
        { reason: (error as ServiceError).details },
        'the directory holds this seq or a floor above it: issuing a newer record',
      );
      return client.register(this.options.fresherRecord(), ttlSeconds);
    }
  }

  private async step(): Promise<void> {
    const { client, metrics, log } = this.options;
    const renewEveryMs = (this.options.ttlSeconds * 1_000) / 3;
    try {
      if (this.leaseId === undefined) {
        const response = await this.register();
        this.leaseId = response.leaseId;
        metrics.directoryRegistrations.inc({ outcome: 'registered' });
        log.info({ ttlSeconds: response.ttlSeconds }, 'registered in the directory');
        this.failures = 0;
        this.run((response.ttlSeconds * 1_000) / 3);
        return;
      }
      await client.renew(this.leaseId);
      metrics.directoryRegistrations.inc({ outcome: 'renewed' });
      this.failures = 0;
      this.run(renewEveryMs);
    } catch (error) {
      const code = (error as ServiceError).code;
      if (code === status.NOT_FOUND && this.leaseId !== undefined) {
        metrics.directoryRegistrations.inc({ outcome: 'lost' });
        log.warn('directory lease lost (expired or store flushed): registering again');
        this.leaseId = undefined;
        this.run(0);
        return;
      }
      metrics.directoryRegistrations.inc({ outcome: 'error' });
      const delay = backoffDelay(DEFAULT_BACKOFF, this.failures++, this.options.random ?? Math.random);
      log.warn(
        { err: (error as Error).message, retryInMs: Math.round(delay) },
        'directory did not answer; gossip goes on, retrying',
      );
      // A renewal that keeps failing must not outlive the lease: register afresh when it may be gone.
      this.run(Math.min(delay, renewEveryMs));
    }
  }
}
