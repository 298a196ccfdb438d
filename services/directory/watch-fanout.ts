/**
 * Watch fan-out: how the events of a network reach every Watch stream on this replica. A thousand
 * watchers of a busy network must not cost a thousand deliveries, timers and encodings per
 * change, so:
 *
 * - Each network has one store subscription (its hub) and one list of recent events. A stream
 *   that is up to date only holds a cursor into that list: an event costs one append, whatever
 *   the number of watchers.
 * - A stream that starts from an older revision than the list holds catches up on a subscription
 *   of its own, and moves onto the hub's list as soon as its next revision is there (revisions are
 *   consecutive, so nothing is lost or repeated at the switch).
 * - A stream writes at most one message per `batchMs`. All streams of a network flush on the
 *   network's tick, so streams at the same cursor send the very same bytes, encoded once. The
 *   hub keeps the last `RECENT_BATCHES` messages it encoded for streams that reach the same
 *   cursor on a later tick; a bound, since a message kept for as long as its events would let
 *   one lagging stream keep every message sent since alive. A network quiet for batchMs sends its
 *   next event at once.
 * - A stream never has more than one message in the transport: while its last write has not been
 *   taken, its events stay in the list and leave in the next message, so a slow transport or
 *   client costs fewer, larger messages rather than a queue. A message carries at most
 *   `maxMessageBytes` of events; a stream more than `maxUnreadBytes` behind (a client that stopped
 *   reading) is cut off with RESOURCE_EXHAUSTED naming the revision to resume from, so it cannot
 *   make the directory hold the change log.
 */
import { ResourceExhaustedError, UnavailableError } from '../common/errors';
import { ChangeEvent, DirectoryStore, Subscription } from './store/store';
import { EncodedBatch, encodeWatchBatch, encodeWatchResponse, framedEventLength } from './watch-encoding';
import { rememberNewest } from '../membership/bounded-memory';

/** A message for a sink: its bytes, and for a message with events its gRPC frame too. */
export type WatchMessage = Pick<EncodedBatch, 'bytes'> & Partial<Pick<EncodedBatch, 'framed'>>;

/** Where a stream's messages go: the gRPC call, or a test's recorder. */
export interface WatchSink {
  /** Writes one WatchResponse; `taken` runs once the transport has taken it. */
  write(message: WatchMessage, taken: () => void): void;
  /** Ends the stream with this error as its status. */
  fail(error: Error): void;
}

export interface WatchFanoutOptions {
  /** Least ms between two messages on one stream (watchBatchMs); 0 sends every event at once. */
  readonly batchMs: number;
  /** Bytes of events a stream may hold unsent before it is cut off. */
  readonly maxUnreadBytes: number;
  /** Bytes of events one message carries at most; a longer backlog leaves in several. */
  readonly maxMessageBytes: number;
  /** Told of every message with events: how many puts and deletes it carried. */
  readonly onSent?: (puts: number, deletes: number) => void;
  /** A monotonic clock in ms; defaults to performance.now. */
  readonly now?: () => number;
}

/** Events dropped from the front of a list at once: dropping one by one would shift it each time. */
const TRIM_CHUNK = 256;
/** Encoded messages a hub keeps for streams that come to the same cursor (64 KiB each at most). */
const RECENT_BATCHES = 64;

export class WatchFanout {
  private readonly hubs = new Map<string, NetworkHub>();
  private stopped = false;
  readonly now: () => number;

  constructor(
    private readonly store: Pick<DirectoryStore, 'watch' | 'revision'>,
    readonly options: WatchFanoutOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * A stream of the changes of `network` after `fromRevision`. It writes that revision at once
   * (so the watcher can resume from there even if nothing changes); the promise resolves once
   * the stream is subscribed, with its backlog on the way. Errors reach the sink, never the
   * promise.
   */
  async open(network: string, fromRevision: number, sink: WatchSink): Promise<WatchStream | undefined> {
    if (this.stopped) {
      sink.fail(new UnavailableError('the directory replica is shutting down; watch again on another replica'));
      return undefined;
    }
    let hub = this.hubs.get(network);
    if (!hub) {
      hub = new NetworkHub(this, network, this.store);
      this.hubs.set(network, hub);
    }
    const stream = new WatchStream(this, hub, sink, fromRevision);
    stream.writeProgress();
    await hub.join(stream);
    return stream;
  }

  /** Ends every hub's subscription and timer; streams still open write nothing more. */
  stop(): void {
    this.stopped = true;
    for (const hub of this.hubs.values()) hub.close();
    this.hubs.clear();
  }

  forget(hub: NetworkHub): void {
    if (this.hubs.get(hub.network) === hub) this.hubs.delete(hub.network);
  }

  /** Streams open on this replica, for tests. */
  streamCount(): number {
    let count = 0;
    for (const hub of this.hubs.values()) count += hub.size;
    return count;
  }

  /** Encoded messages the hubs keep for later streams, for tests. */
  heldBatchCount(): number {
    let count = 0;
    for (const hub of this.hubs.values()) count += hub.heldBatchCount;
    return count;
  }
}

/** One network's subscription, its recent events, and the streams that read them. */
class NetworkHub {
  /**
   * Recent events in the order the store delivered them (revision order, each once). Streams
   * point into the list by position: `events[i]` is at position `basePosition + i`.
   */
  private events: ChangeEvent[] = [];
  /** `ends[i]`: the bytes of the events from position 0 up to and including `events[i]`. */
  private ends: number[] = [];
  private basePosition = 0;
  /** The bytes of every event before `basePosition`. */
  private baseBytes = 0;
  /** The revision the hub's subscription started after, known once `started` resolves. */
  private startedAfter = 0;
  /** The revision of the last event appended (startedAfter before the first). */
  lastRevision = 0;
  /** Streams reading the list, and streams still catching up on their own subscription. */
  private readonly live = new Set<WatchStream>();
  private readonly joining = new Set<WatchStream>();
  private subscription: Subscription | undefined;
  private readonly started: Promise<void>;
  private failure: Error | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAt = Infinity;
  /** When the streams flushed last: the network's tick. */
  private lastFlushAt = -Infinity;
  /** The last messages encoded, by the position they start at, oldest first. */
  private readonly recentBatches = new Map<number, EncodedBatch>();

  constructor(
    private readonly fanout: WatchFanout,
    readonly network: string,
    private readonly store: Pick<DirectoryStore, 'watch' | 'revision'>,
  ) {
    this.started = this.start();
  }

  get size(): number {
    return this.live.size + this.joining.size;
  }

  get heldBatchCount(): number {
    return this.recentBatches.size;
  }

  /** The position after the last event. */
  get head(): number {
    return this.basePosition + this.events.length;
  }

  private async start(): Promise<void> {
    try {
      const from = await this.store.revision(this.network);
      this.startedAfter = from;
      this.lastRevision = from;
      const subscription = await this.store.watch(this.network, from, {
        onEvent: (event) => this.append(event),
        onError: (error) => this.fail(error),
      });
      if (this.closed) subscription.close();
      else this.subscription = subscription;
    } catch (error) {
      this.fail(error as Error);
    }
  }

  async join(stream: WatchStream): Promise<void> {
    this.joining.add(stream);
    await this.started;
    if (this.failure) return stream.fail(this.failure);
    if (this.tryMove(stream)) return;
    // Older than the list reaches back: catch up on a subscription of the stream's own.
    try {
      const subscription = await this.store.watch(this.network, stream.delivered, {
        // Once the stream has moved onto the list, the list has these events: ignore them.
        onEvent: (event) => {
          if (!this.joining.has(stream)) return;
          stream.catchUp(event);
          this.tryMove(stream);
        },
        onError: (error) => {
          if (this.joining.has(stream)) stream.fail(error);
        },
      });
      if (stream.ended || !this.joining.has(stream)) subscription.close();
      else stream.ownSubscription = subscription;
    } catch (error) {
      stream.fail(error as Error);
    }
  }

  /**
   * The position of the first event after revision `after`, or undefined when the list does not
   * hold it (not yet, or not any more). Revisions in the list are consecutive, except that the
   * first one after an empty network's 0 may be any number (the Redis store starts from its clock).
   */
  private positionAfter(after: number): number | undefined {
    if (after === this.lastRevision) return this.head;
    if (this.basePosition === 0 && after === this.startedAfter) return 0;
    if (this.events.length === 0) return undefined;
    const first = this.events[0].revision;
    if (after + 1 < first || after > this.lastRevision) return undefined;
    return this.basePosition + (after + 1 - first);
  }

  /**
   * Moves a catching-up stream onto the list once the list holds its next event; true when it
   * did (or the stream is gone). Nothing is lost or repeated: the stream's own subscription
   * delivered up to `delivered`, the list goes on from there.
   */
  private tryMove(stream: WatchStream): boolean {
    if (stream.ended) return true;
    const position = this.positionAfter(stream.delivered);
    if (position === undefined) return false;
    this.joining.delete(stream);
    stream.ownSubscription?.close();
    stream.ownSubscription = undefined;
    stream.cursor = position;
    this.live.add(stream);
    if (position < this.head || stream.hasOwnEvents) this.wake(stream);
    return true;
  }

  private append(event: ChangeEvent): void {
    if (this.closed) return;
    this.events.push(event);
    this.ends.push(
      (this.ends.length > 0 ? this.ends[this.ends.length - 1] : this.baseBytes) + framedEventLength(event),
    );
    this.lastRevision = event.revision;
    for (const stream of this.joining) this.tryMove(stream);
    if (this.live.size > 0) this.schedule(this.lastFlushAt + this.fanout.options.batchMs);
    // Nobody reads the list: a stream still catching up joins it at the head at the latest.
    else this.trim(this.head);
  }

  /** A stream has something to write and nothing in the transport. */
  wake(stream: WatchStream): void {
    this.schedule(stream.readyAt(this.fanout.options.batchMs));
  }

  private schedule(dueAt: number): void {
    if (this.closed || (this.timer !== undefined && this.timerDueAt <= dueAt)) return;
    clearTimeout(this.timer);
    this.timerDueAt = dueAt;
    this.timer = setTimeout(() => this.flush(), Math.max(0, dueAt - this.fanout.now()));
  }

  /** The network's tick: every stream whose turn it is writes what it has not sent yet. */
  private flush(): void {
    this.timer = undefined;
    this.timerDueAt = Infinity;
    const now = this.fanout.now();
    const { batchMs, maxUnreadBytes } = this.fanout.options;
    this.lastFlushAt = now;
    let next = Infinity;
    let lowest = this.head;
    const turn = (stream: WatchStream) => {
      if (stream.writing || !stream.hasUnsent) return;
      // Within a millisecond of its turn is its turn: timers fire late, never meaningfully early.
      const readyAt = stream.readyAt(batchMs);
      if (readyAt > now + 1) next = Math.min(next, readyAt);
      else stream.flush(now);
    };
    for (const stream of this.live) {
      const unread = this.bytesFrom(stream.cursor);
      if (unread > maxUnreadBytes) {
        stream.fail(
          new ResourceExhaustedError(
            `watcher fell ${unread} bytes behind; watch again from revision ${stream.delivered}`,
          ),
        );
        continue;
      }
      turn(stream);
      lowest = Math.min(lowest, stream.cursor);
    }
    for (const stream of this.joining) turn(stream);
    this.trim(lowest);
    if (next < Infinity) this.schedule(next);
  }

  /**
   * The next message from `cursor` on (its `count` events take the stream to `cursor + count`);
   * every stream at that cursor gets the very same object while it is among the hub's recent ones.
   */
  batchFrom(cursor: number): EncodedBatch {
    const from = cursor - this.basePosition;
    const { maxMessageBytes } = this.fanout.options;
    const start = from === 0 ? this.baseBytes : this.ends[from - 1];
    let to = from + 1;
    while (to < this.events.length && this.ends[to] - start <= maxMessageBytes) to += 1;
    const revision = this.events[to - 1].revision;
    const recent = this.recentBatches.get(cursor);
    // Events only ever join at the end, so the same start, count and revision is the same message.
    if (recent && recent.count === to - from && recent.revision === revision) return recent;
    const batch = encodeWatchBatch(this.events, revision, from, to);
    rememberNewest(this.recentBatches, cursor, batch, RECENT_BATCHES);
    return batch;
  }

  /** Bytes of the events from `position` to the head. */
  private bytesFrom(position: number): number {
    if (position >= this.head) return 0;
    const from = position - this.basePosition;
    const start = from === 0 ? this.baseBytes : this.ends[from - 1];
    return this.ends[this.ends.length - 1] - start;
  }

  /** Drops the events every live stream has sent, a chunk at a time. */
  private trim(lowest: number): void {
    const drop = lowest - this.basePosition;
    if (drop <= 0 || (drop < TRIM_CHUNK && drop < this.events.length)) return;
    this.baseBytes = this.ends[drop - 1];
    this.events = this.events.slice(drop);
    this.ends = this.ends.slice(drop);
    this.basePosition = lowest;
  }

  leave(stream: WatchStream): void {
    this.live.delete(stream);
    this.joining.delete(stream);
    if (this.size === 0) {
      this.close();
      this.fanout.forget(this);
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const streams = [...this.live, ...this.joining];
    this.close();
    this.fanout.forget(this);
    // A stream ends with what it was sent; the rest is lost with the feed, and the error says why.
    for (const stream of streams) stream.fail(error);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.subscription?.close();
    this.subscription = undefined;
    for (const stream of this.joining) stream.ownSubscription?.close();
  }
}

export class WatchStream {
  /** Events received on the stream's own subscription (while catching up), not sent yet. */
  private own: ChangeEvent[] = [];
  private ownBytes = 0;
  /** The revision of the last event sent or gathered (or where the stream started). */
  delivered: number;
  /** The position of the next event to send from the hub's list, once the stream reads it. */
  cursor = -1;
  ownSubscription: Subscription | undefined;
  writing = false;
  ended = false;
  lastWriteAt = -Infinity;
  private wroteSinceProgress = true;
  /** Whether the message in the transport was cut short at the size bound: the rest goes at once. */
  private backlog = false;
  private readonly onTaken = () => this.taken();

  constructor(
    private readonly fanout: WatchFanout,
    private readonly hub: NetworkHub,
    private readonly sink: WatchSink,
    fromRevision: number,
  ) {
    this.delivered = fromRevision;
  }

  get hasOwnEvents(): boolean {
    return this.own.length > 0;
  }

  /**
   * When the stream may write next: batchMs after its last message, or at once for the rest of a
   * message cut short at the size bound (it is late already).
   */
  readyAt(batchMs: number): number {
    return this.backlog ? -Infinity : this.lastWriteAt + batchMs;
  }

  get hasUnsent(): boolean {
    return this.own.length > 0 || (this.cursor >= 0 && this.cursor < this.hub.head);
  }

  /** An event of the stream's own subscription, while it catches up. */
  catchUp(event: ChangeEvent): void {
    if (this.ended) return;
    this.own.push(event);
    this.ownBytes += framedEventLength(event);
    this.delivered = event.revision;
    if (this.ownBytes > this.fanout.options.maxUnreadBytes) {
      this.fail(
        new ResourceExhaustedError(
          `watcher fell ${this.ownBytes} bytes behind while catching up; watch again from revision ${this.own[0].revision - 1}`,
        ),
      );
      return;
    }
    if (this.own.length === 1 && !this.writing) this.hub.wake(this);
  }

  /** The periodic progress check: a stream that wrote nothing since the last one says where it is. */
  progressTick(): void {
    if (!this.wroteSinceProgress && !this.writing && !this.hasUnsent) this.writeProgress();
    this.wroteSinceProgress = false;
  }

  writeProgress(): void {
    if (this.ended) return;
    // A stream reading the list has everything up to the hub's last revision.
    const revision = this.cursor >= 0 && !this.hasUnsent ? this.hub.lastRevision : this.delivered;
    this.send({ bytes: encodeWatchResponse([], revision) }, this.fanout.now());
  }

  /** Writes one message: its own events first (while catching up), then from the hub's list. */
  flush(now: number): void {
    if (this.ended || this.writing) return;
    if (this.own.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.own.length) {
        const next = framedEventLength(this.own[count]);
        if (count > 0 && bytes + next > this.fanout.options.maxMessageBytes) break;
        bytes += next;
        count += 1;
      }
      const events = this.own.slice(0, count);
      this.own = this.own.slice(count);
      // The revision the watcher will be at; `delivered` already names the last event gathered.
      this.ownBytes -= bytes;
      this.backlog = this.own.length > 0;
      return this.sendBatch(encodeWatchBatch(events, events[events.length - 1].revision), now);
    }
    if (this.cursor < 0 || this.cursor >= this.hub.head) return;
    const batch = this.hub.batchFrom(this.cursor);
    this.cursor += batch.count;
    this.delivered = batch.revision;
    this.backlog = this.cursor < this.hub.head;
    this.sendBatch(batch, now);
  }

  /** Everything unsent is dropped: the revision in the error tells where to resume. */
  fail(error: Error): void {
    if (this.ended) return;
    this.close();
    this.sink.fail(error);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.own = [];
    this.ownSubscription?.close();
    this.ownSubscription = undefined;
    this.hub.leave(this);
  }

  private sendBatch(batch: EncodedBatch, now: number): void {
    this.fanout.options.onSent?.(batch.puts, batch.deletes);
    this.send(batch, now);
  }

  private send(message: WatchMessage, now: number): void {
    this.writing = true;
    this.lastWriteAt = now;
    this.wroteSinceProgress = true;
    this.sink.write(message, this.onTaken);
  }

  private taken(): void {
    this.writing = false;
    if (!this.ended && this.hasUnsent) this.hub.wake(this);
  }
}
