/**
 * Watch for the Redis store: per network, one blocking XREAD loop per store instance (a "feed",
 * on a connection of its own) fans every change event out to all of that network's watchers.
 * Watchers never get a connection each.
 *
 * A new watcher joins without losing or repeating an event:
 *  1. it joins the feed first, buffering what the feed reads from then on;
 *  2. it checks the revision it asked for against the store (WATCH_RANGE) and reads the backlog
 *     after it with XRANGE on the main connection;
 *  3. it drains its buffer, skipping revisions the backlog already delivered, and goes live.
 * The feed started reading at a revision no later than the backlog's end, so backlog and buffer
 * overlap rather than leave a gap.
 *
 * Revisions of a network are consecutive, so any jump in what a feed or a watcher sees means
 * events were lost (the log was trimmed past it, or the store was flushed): the watchers get
 * OutOfRangeError and list again. A feed that times out with nothing to read also checks that the
 * revision counter has not gone (a flush with no write after it). A lost connection gives every
 * watcher of the feed UnavailableError.
 */
import { OutOfRangeError, UnavailableError } from '../../common/errors';
import { Logger } from '../../common/logging';
import { watchRangeProblem } from './store-rules';
import { decodeLogEntry, revisionOfEntryId } from './redis-codec';
import {
  duplicateDirectoryRedis,
  isDisconnected,
  storeErrorFrom,
  unavailable,
  waitForRedis,
  type DirectoryRedis,
} from './redis-connection';
import { NetworkKeys, networkKeys } from './redis-keys';
import { RedisCommandObserver, observeRedisCommands } from './redis-command-observer';
import { DirectoryScripts } from './redis-scripts';
import { ChangeEvent, Subscription, WatchHandlers } from './store';
import { rememberNewest } from '../../membership/bounded-memory';

/** Entries one XREAD or XRANGE call returns at most. */
const READ_BATCH = 512;
/**
 * Decoded events a feed keeps by revision, for watchers catching up through the same part of the
 * log. After a flush every watcher lists again and catches up from a revision of its own, most of
 * them through the same few thousand events: decoded once and shared, each event is also encoded
 * once for all of them (watch-encoding.ts caches by object), where a copy per watcher held the
 * event loop for two seconds at a hundred watchers. A few MiB at most per network watched.
 */
const SHARED_EVENTS = 4_096;

export interface WatchHubOptions {
  /** How long one blocking XREAD waits before the feed checks the store is still there, in ms. */
  readonly pollMs: number;
  /** How long a feed's connection may take to connect, in ms. */
  readonly connectTimeoutMs: number;
}

export interface WatchHub {
  watch(network: string, fromRevision: number | undefined, handlers: WatchHandlers): Promise<Subscription>;
  /** Ends every watch with UnavailableError and closes every feed connection. */
  close(): Promise<void>;
  /** Open feed connections, for tests. */
  feedCount(): number;
}

export function createWatchHub(
  components: { redis: DirectoryRedis; scripts: DirectoryScripts; log?: Logger; commands?: RedisCommandObserver },
  options: WatchHubOptions,
): WatchHub {
  const { redis, scripts, log, commands } = components;
  const feeds = new Map<string, Feed>();
  let closed = false;

  class Watcher implements Subscription {
    private buffering = true;
    private buffer: ChangeEvent[] = [];
    /** The revision of the last event delivered; 0 while nothing is known (an empty network). */
    last = 0;
    ended = false;

    constructor(
      private readonly handlers: WatchHandlers,
      private feed: Feed | undefined,
    ) {}

    /** An event from the feed. */
    accept(event: ChangeEvent): void {
      if (this.ended) return;
      if (this.buffering) this.buffer.push(event);
      else this.deliver(event);
    }

    deliver(event: ChangeEvent): void {
      if (this.ended || event.revision <= this.last) return;
      if (this.last > 0 && event.revision !== this.last + 1) {
        this.fail(
          new OutOfRangeError(
            `the change log lost revisions ${this.last + 1}..${event.revision - 1} (trimmed or flushed): list again`,
          ),
        );
        return;
      }
      this.last = event.revision;
      try {
        this.handlers.onEvent(event);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    }

    goLive(): void {
      const buffered = this.buffer;
      this.buffer = [];
      this.buffering = false;
      for (const event of buffered) this.deliver(event);
    }

    fail(error: Error): void {
      if (this.ended) return;
      this.detach();
      try {
        this.handlers.onError(error);
      } catch {
        // Nothing more can be told to a watcher whose error handler throws.
      }
    }

    close(): void {
      if (!this.ended) this.detach();
    }

    private detach(): void {
      this.ended = true;
      this.buffer = [];
      this.feed?.remove(this);
      this.feed = undefined;
    }
  }

  class Feed {
    readonly watchers = new Set<Watcher>();
    readonly keys: NetworkKeys;
    /** Resolves true once the feed reads, false when it could not start (watchers were told). */
    readonly started: Promise<boolean>;
    private connection: DirectoryRedis | undefined;
    private stopped = false;
    private ended: Promise<void> = Promise.resolve();
    /** The revision of the last entry read; 0 while the network had none. */
    private last = 0;
    /** The last SHARED_EVENTS events decoded, by revision, oldest first. */
    private readonly shared = new Map<number, ChangeEvent>();

    constructor(readonly network: string) {
      this.keys = networkKeys(network);
      this.started = this.start();
    }

    /**
     * The event of a log entry, decoded once: a revision names one change for good (revisions
     * never go back, even after a flush), and a feed ends at the first gap it sees anyway.
     */
    eventOf(id: Buffer, fields: Buffer[], revision = revisionOfEntryId(id)): ChangeEvent {
      const known = this.shared.get(revision);
      if (known) return known;
      const event = decodeLogEntry(id, fields);
      rememberNewest(this.shared, revision, event, SHARED_EVENTS);
      return event;
    }

    add(watcher: Watcher): void {
      this.watchers.add(watcher);
    }

    remove(watcher: Watcher): void {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) void this.stop();
    }

    failAll(error: Error): void {
      const watchers = [...this.watchers];
      void this.stop();
      for (const watcher of watchers) watcher.fail(error);
    }

    /** Ends the loop and its connection; resolves once the connection is closed. */
    stop(): Promise<void> {
      if (!this.stopped) {
        this.stopped = true;
        if (feeds.get(this.network) === this) feeds.delete(this.network);
        const connection = this.connection;
        if (connection && connection.status !== 'end') {
          this.ended = new Promise((resolve) => connection.once('end', () => resolve()));
          connection.disconnect();
        }
      }
      return this.ended;
    }

    private async start(): Promise<boolean> {
      try {
        const connection = duplicateDirectoryRedis(redis, {
          lazyConnect: false,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          // A lost connection ends the feed (its watchers list again); the next watch opens a new one.
          retryStrategy: () => null,
          autoResendUnfulfilledCommands: false,
          connectTimeout: options.connectTimeoutMs,
          // XREAD blocks for pollMs, so only a reply later than that means the connection is dead.
          commandTimeout: options.pollMs + options.connectTimeoutMs,
          connectionName: 'grapevine-watch',
        });
        this.connection = connection;
        // Once the feed stops, its blocked XREAD fails on purpose: not an error worth counting.
        if (commands) observeRedisCommands(connection, commands, () => this.stopped);
        connection.on('error', (error: Error) =>
          log?.debug({ err: error, network: this.network }, 'watch connection error'),
        );
        if (this.stopped) {
          connection.disconnect();
          return false;
        }
        await waitForRedis(connection, options.connectTimeoutMs);
        const current = await connection.get(this.keys.rev);
        this.last = current === null ? 0 : Number(current);
      } catch (error) {
        if (!this.stopped) this.failAll(storeErrorFrom(redis, error));
        return false;
      }
      if (this.stopped) return false;
      void this.loop();
      return true;
    }

    private async loop(): Promise<void> {
      const connection = this.connection as DirectoryRedis;
      try {
        while (!this.stopped) {
          const reply = await connection.xreadBuffer(
            'COUNT',
            READ_BATCH,
            'BLOCK',
            options.pollMs,
            'STREAMS',
            this.keys.log,
            `${this.last}-0`,
          );
          if (this.stopped) return;
          if (reply === null) {
            const problem = await this.checkStillThere(connection);
            if (problem) return this.failAll(problem);
            continue;
          }
          for (const [, entries] of reply) {
            for (const [id, fields] of entries) {
              const revision = revisionOfEntryId(id);
              if (this.last > 0 && revision !== this.last + 1) {
                return this.failAll(
                  new OutOfRangeError(
                    `network ${this.network} lost revisions ${this.last + 1}..${revision - 1} (the store was flushed or trimmed): list again`,
                  ),
                );
              }
              this.last = revision;
              const event = this.eventOf(id, fields, revision);
              // The live set, not a copy: a watcher that fails here leaves it, which a Set's
              // iteration allows, and a copy per event costs a thousand watchers dearly.
              for (const watcher of this.watchers) watcher.accept(event);
            }
          }
        }
      } catch (error) {
        if (!this.stopped) this.failAll(error instanceof OutOfRangeError ? error : unavailable(redis, error));
      }
    }

    /** After an idle poll: the counter must still be where the feed left it (not flushed). */
    private async checkStillThere(connection: DirectoryRedis): Promise<OutOfRangeError | undefined> {
      const current = await connection.get(this.keys.rev);
      if (this.last > 0 && (current === null || Number(current) < this.last)) {
        return new OutOfRangeError(
          `network ${this.network}'s revision went from ${this.last} to ${current ?? 'nothing'}: the store lost its data; list again`,
        );
      }
      return undefined;
    }
  }

  /** Step 2 of joining: check the revision, deliver the backlog. */
  async function catchUp(
    watcher: Watcher,
    network: string,
    feed: Feed,
    fromRevision: number | undefined,
  ): Promise<void> {
    const { keys } = feed;
    if (isDisconnected(redis)) throw new Error(`the connection is ${redis.status}`);
    const [current, base, firstInLog] = (await scripts.call('gvWatchRange', keys.rev, keys.base, keys.log)) as number[];
    let from = fromRevision ?? current;
    // Revision 0 is the empty network before any history; after a flush that is the state at base.
    if (from === 0 && base > 0) from = base;
    const problem =
      from > 0 && from < base
        ? new OutOfRangeError(
            `revision ${from} of network ${network} was lost when the store lost its data (history restarts after ${base}): list again`,
          )
        : watchRangeProblem(network, from, current, firstInLog > 0 ? firstInLog : current + 1);
    if (problem) return watcher.fail(problem);
    watcher.last = from;
    for (;;) {
      if (watcher.ended) return;
      const entries = await redis.xrangeBuffer(keys.log, `(${watcher.last}-0`, '+', 'COUNT', READ_BATCH);
      for (const [id, fields] of entries) watcher.deliver(feed.eventOf(id, fields));
      if (entries.length < READ_BATCH) break;
    }
    if (!watcher.ended && watcher.last < current) {
      watcher.fail(
        new OutOfRangeError(
          `revisions of network ${network} up to ${current} left the log while it was read: list again`,
        ),
      );
    }
  }

  return {
    async watch(network, fromRevision, handlers) {
      if (closed) {
        const watcher = new Watcher(handlers, undefined);
        watcher.fail(new UnavailableError('the directory store is closed; watch again on another replica'));
        return watcher;
      }
      let feed = feeds.get(network);
      if (!feed) {
        feed = new Feed(network);
        feeds.set(network, feed);
      }
      const watcher = new Watcher(handlers, feed);
      feed.add(watcher);
      try {
        if (!(await feed.started) || watcher.ended) return watcher;
        await catchUp(watcher, network, feed, fromRevision);
        if (!watcher.ended) watcher.goLive();
      } catch (error) {
        watcher.fail(storeErrorFrom(redis, error));
      }
      return watcher;
    },

    async close() {
      closed = true;
      const all = [...feeds.values()];
      for (const feed of all) {
        feed.failAll(new UnavailableError('the directory store is shutting down; watch again on another replica'));
      }
      await Promise.all(all.map((feed) => feed.stop()));
    },

    feedCount: () => feeds.size,
  };
}
