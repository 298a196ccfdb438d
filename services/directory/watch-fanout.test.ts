import { generateIdentity } from '../common/identity';
import { openRecord, signRecord } from '../common/records';
import { WatchResponse } from '../gen/grapevine/v1/directory';
import { createMemoryStore } from './store/memory-store';
import { DirectoryStore } from './store/store';
import { WatchFanout, WatchMessage, WatchSink, WatchStream } from './watch-fanout';

const BATCH_MS = 20;
const NETWORK = 'fan';

/** A sink that holds each write until the test lets the transport take it. */
class RecordingSink implements WatchSink {
  readonly messages: WatchMessage[] = [];
  readonly waiting: (() => void)[] = [];
  failure: Error | undefined;
  /** autoTake: the transport takes every write at once, as one with room to spare does. */
  constructor(private readonly autoTake = true) {}

  write(message: WatchMessage, taken: () => void): void {
    this.messages.push(message);
    if (this.autoTake) taken();
    else this.waiting.push(taken);
  }

  fail(error: Error): void {
    this.failure = error;
  }

  takeAll(): void {
    for (const taken of this.waiting.splice(0)) taken();
  }

  decoded(): { revisions: number[]; revision: number }[] {
    return this.messages.map((message) => {
      const response = WatchResponse.decode(message.bytes);
      return { revisions: response.events.map((e) => e.revision), revision: response.revision };
    });
  }

  /** Every event revision received, in order. */
  revisions(): number[] {
    return this.decoded().flatMap((message) => message.revisions);
  }
}

describe('watch fan-out', () => {
  let clock: number;
  let sent: [number, number][];
  let store: DirectoryStore;
  let fanout: WatchFanout;
  const peer = generateIdentity();
  let seq = 0;

  beforeEach(() => {
    jest.useFakeTimers();
    clock = 1_000;
    seq = 0;
    sent = [];
    store = createMemoryStore({ logRetention: 1_000, seqFloorRetentionMs: 60_000, now: () => clock });
    fanout = new WatchFanout(store, {
      batchMs: BATCH_MS,
      maxUnreadBytes: 20_000,
      maxMessageBytes: 2_000,
      onSent: (puts, deletes) => sent.push([puts, deletes]),
      now: () => clock,
    });
  });

  afterEach(async () => {
    fanout.stop();
    await store.close();
    jest.useRealTimers();
  });

  /** Moves the fan-out's clock and its timers together. */
  async function advance(ms: number): Promise<void> {
    clock += ms;
    await jest.advanceTimersByTimeAsync(ms);
  }

  /** One change of the network (a new record of the same peer); returns its revision. */
  async function change(): Promise<number> {
    seq += 1;
    const signed = signRecord(peer, {
      network: NETWORK,
      name: '',
      addresses: ['127.0.0.1:1'],
      labels: {},
      seq,
      issuedAtMs: seq,
      withdrawn: false,
    });
    const { revision } = await store.register({ record: openRecord(signed), signed, ttlMs: 60_000 });
    return revision;
  }

  async function open(sink: WatchSink, from?: number): Promise<WatchStream> {
    const stream = await fanout.open(NETWORK, from ?? (await store.revision(NETWORK)), sink);
    if (!stream) throw new Error('the fan-out is stopped');
    return stream;
  }

  it('tells a new stream where it starts, then sends an event of a quiet network at once', async () => {
    const sink = new RecordingSink();
    await open(sink, 0);
    expect(sink.decoded()).toEqual([{ revisions: [], revision: 0 }]);
    await advance(100);
    const revision = await change();
    await advance(0);
    expect(sink.decoded()).toEqual([
      { revisions: [], revision: 0 },
      { revisions: [revision], revision },
    ]);
    expect(sink.messages[1].framed?.subarray(5)).toEqual(sink.messages[1].bytes);
    expect(sink.messages[1].framed?.readUInt32BE(1)).toBe(sink.messages[1].bytes.length);
    expect(sent).toEqual([[1, 0]]);
  });

  it('gathers a busy network’s events until its next tick, and streams at one cursor share one encoding', async () => {
    const sinks = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    for (const sink of sinks) await open(sink);
    await advance(100);
    const first = await change();
    await advance(0);
    const more = [await change(), await change(), await change()];
    await advance(5);
    expect(sinks[0].messages).toHaveLength(2);
    await advance(BATCH_MS);
    for (const sink of sinks) {
      expect(sink.decoded().slice(1)).toEqual([
        { revisions: [first], revision: first },
        { revisions: more, revision: more[2] },
      ]);
    }
    expect(sinks[1].messages[2].bytes).toBe(sinks[0].messages[2].bytes);
    expect(sinks[2].messages[2].framed).toBe(sinks[0].messages[2].framed);
  });

  it('keeps a bounded number of encoded messages however far a stream lags', async () => {
    const lagging = new RecordingSink(false);
    const reading = [new RecordingSink(), new RecordingSink()];
    await open(lagging);
    for (const sink of reading) await open(sink);
    await advance(100);
    // A change a tick: the readers send a message from a new cursor each time, while the
    // lagging stream keeps every event since its first unsent.
    for (let i = 0; i < 80; i += 1) {
      await change();
      await advance(BATCH_MS);
    }
    expect(reading[0].decoded().flatMap((message) => message.revisions)).toHaveLength(80);
    expect(reading[1].messages.at(-1)?.bytes).toBe(reading[0].messages.at(-1)?.bytes);
    expect(fanout.heldBatchCount()).toBe(64);
    // Once it reads again it gets them all, in as many messages as the size bound makes.
    for (let i = 0; i < 40; i += 1) {
      lagging.takeAll();
      await advance(BATCH_MS);
    }
    expect(lagging.decoded().flatMap((message) => message.revisions)).toEqual(
      reading[0].decoded().flatMap((message) => message.revisions),
    );
  });

  it('keeps one message in the transport: what comes meanwhile leaves in one message once it is taken', async () => {
    const sink = new RecordingSink(false);
    await open(sink);
    sink.takeAll();
    await advance(100);
    const first = await change();
    await advance(0);
    const more: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      more.push(await change());
      await advance(BATCH_MS);
    }
    expect(sink.decoded().slice(1)).toEqual([{ revisions: [first], revision: first }]);
    sink.takeAll();
    await advance(BATCH_MS);
    expect(sink.decoded().slice(1)).toEqual([
      { revisions: [first], revision: first },
      { revisions: more, revision: more[4] },
    ]);
  });

  it('splits a backlog longer than one message into several, in order, sent back to back', async () => {
    const sink = new RecordingSink(false);
    await open(sink);
    const revisions: number[] = [];
    for (let i = 0; i < 30; i += 1) revisions.push(await change());
    // The first part waits for the stream's tick; the rest follows each time one is taken.
    sink.takeAll();
    await advance(BATCH_MS);
    for (let i = 0; i < 20; i += 1) {
      sink.takeAll();
      await advance(0);
    }
    const messages = sink.decoded().slice(1);
    expect(messages.length).toBeGreaterThan(2);
    expect(messages.flatMap((message) => message.revisions)).toEqual(revisions);
    for (const [index, message] of messages.entries()) {
      expect(message.revision).toBe(message.revisions.at(-1));
      expect(sink.messages[index + 1].bytes.length).toBeLessThanOrEqual(2_000 + 16);
    }
  });

  it('lets a stream from an old revision catch up on its own, then join the others, losing and repeating nothing', async () => {
    const early = new RecordingSink();
    const start = await store.revision(NETWORK);
    await open(early, start);
    const history: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      history.push(await change());
      await advance(BATCH_MS);
    }
    const late = new RecordingSink();
    await open(late, start);
    for (let i = 0; i < 4; i += 1) {
      history.push(await change());
      await advance(BATCH_MS);
    }
    await advance(100);
    expect(early.revisions()).toEqual(history);
    expect(late.revisions()).toEqual(history);
    expect(fanout.streamCount()).toBe(2);
  });

  it('cuts off a stream that stopped reading once it is too far behind, naming the revision to resume from', async () => {
    const stuck = new RecordingSink(false);
    const reading = new RecordingSink();
    await open(stuck);
    await open(reading);
    stuck.takeAll();
    await advance(100);
    const first = await change();
    await advance(0);
    // The message with the first change is never taken.
    let count = 0;
    while (!stuck.failure && count < 500) {
      await change();
      await advance(BATCH_MS);
      count += 1;
    }
    expect(stuck.failure?.name).toBe('ResourceExhaustedError');
    expect(stuck.failure?.message).toContain(`from revision ${first}`);
    expect(reading.failure).toBeUndefined();
    expect(reading.revisions()).toHaveLength(count + 1);
    expect(fanout.streamCount()).toBe(1);
  });

  it('sends a progress message only when the stream wrote nothing since the last check', async () => {
    const sink = new RecordingSink();
    const stream = await open(sink, 0);
    stream.progressTick();
    expect(sink.messages).toHaveLength(1);
    stream.progressTick();
    expect(sink.decoded()).toEqual([
      { revisions: [], revision: 0 },
      { revisions: [], revision: 0 },
    ]);
  });

  it('ends every stream with the store’s error, and forgets the network once its streams are gone', async () => {
    const sinks = [new RecordingSink(), new RecordingSink()];
    const streams = [];
    for (const sink of sinks) streams.push(await open(sink));
    await store.close();
    for (const sink of sinks) expect(sink.failure?.name).toBe('UnavailableError');
    expect(fanout.streamCount()).toBe(0);
    for (const stream of streams) stream.close();
  });

  it('writes nothing more for a closed stream', async () => {
    const sink = new RecordingSink();
    const stream = await open(sink);
    await advance(100);
    await change();
    stream.close();
    await advance(BATCH_MS);
    expect(sink.messages).toHaveLength(1);
    expect(fanout.streamCount()).toBe(0);
  });
});
