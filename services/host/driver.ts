/**
 * Drives one membership core in real time: it owns the clock and the one timer, hands incoming
 * messages to the core, sends what the core returns, and routes answers back to the calls that
 * wait for them.
 *
 * Answers: a peer call such as Ping waits for the core's ack to its sender. The driver registers
 * a waiter under the answer's key before delivering the request; when the core emits a message
 * with that key, the waiter takes it instead of the transport. Most answers come at once; an
 * IndirectPing's comes later, when the relay's own probe of the target ends.
 */
import type {
  Effects,
  MembershipEvent,
  MembershipNode,
  Message,
  Outgoing,
  SignedRecordBlob,
  Transport,
} from '../membership';

export interface DriverOptions {
  readonly node: MembershipNode;
  readonly transport: Transport;
  /** Monotonic milliseconds. */
  readonly clock: () => number;
  readonly onEvents: (events: readonly MembershipEvent[]) => void;
}

interface Waiter {
  settle(answer: Message | undefined): void;
}

/** The key an answer is matched by; undefined for messages that answer nothing. */
export function answerKey(out: Outgoing): string | undefined {
  const m = out.message;
  switch (m.type) {
    case 'ack':
    case 'nack':
      return `probe|${out.to}|${m.seq}`;
    case 'neighbor-reply':
      return `neighbor|${out.to}`;
    case 'push-pull':
      return m.reply ? `push-pull|${out.to}` : undefined;
    default:
      return undefined;
  }
}

export class MembershipDriver {
  readonly node: MembershipNode;
  private readonly transport: Transport;
  private readonly clock: () => number;
  private readonly onEvents: (events: readonly MembershipEvent[]) => void;
  private readonly waiters = new Map<string, Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;

  constructor(options: DriverOptions) {
    this.node = options.node;
    this.transport = options.transport;
    this.clock = options.clock;
    this.onEvents = options.onEvents;
  }

  start(): void {
    this.apply(this.node.start(this.clock()));
  }

  join(contacts: readonly SignedRecordBlob[]): void {
    this.apply(this.node.join(this.clock(), contacts));
  }

  /** Delivers a message that expects no answer. */
  deliver(message: Message): void {
    if (this.stopped) return;
    this.apply(this.node.handle(this.clock(), message));
  }

  /**
   * Delivers a message and resolves with the core's answer to its sender: at once when the core
   * answers at once, else within `waitMs` (0: only an immediate answer), else undefined.
   */
  ask(message: Message, key: string, waitMs: number): Promise<Message | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        settle: (answer) => {
          if (timer) clearTimeout(timer);
          if (this.waiters.get(key) === waiter) this.waiters.delete(key);
          resolve(answer);
        },
      };
      this.waiters.get(key)?.settle(undefined);
      this.waiters.set(key, waiter);
      this.apply(this.node.handle(this.clock(), message));
      if (this.waiters.get(key) !== waiter) return;
      if (waitMs <= 0) waiter.settle(undefined);
      else timer = setTimeout(() => waiter.settle(undefined), waitMs);
    });
  }

  flood(id: string, payload: Uint8Array, ttlHops: number): number {
    const effects = this.node.flood(this.clock(), id, payload, ttlHops);
    this.apply(effects);
    return effects.messages.length;
  }

  /** Introduces a newcomer: a sample of the views for it, and how many neighbours were told of it. */
  introduce(newcomer: SignedRecordBlob): { sample: SignedRecordBlob[]; told: number } {
    const { sample, effects } = this.node.introduce(this.clock(), newcomer);
    const told = effects.messages.filter((out) => out.message.type === 'introduce').length;
    this.apply(effects);
    return { sample, told };
  }

  updateRecord(blob: SignedRecordBlob): void {
    this.apply(this.node.updateRecord(this.clock(), blob));
  }

  /** Leaves gracefully (neighbours learn it left, not failed) and stops the timer. */
  leave(): void {
    if (this.stopped) return;
    this.apply(this.node.leave(this.clock()));
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const waiter of [...this.waiters.values()]) waiter.settle(undefined);
  }

  private apply(effects: Effects): void {
    for (const out of effects.messages) {
      const key = answerKey(out);
      const waiter = key === undefined ? undefined : this.waiters.get(key);
      if (waiter) waiter.settle(out.message);
      else this.transport.send(out);
    }
    if (effects.events.length > 0) this.onEvents(effects.events);
    this.schedule();
  }

  /** Keeps one timer armed for the core's next deadline; a later deadline waits for this one. */
  private schedule(): void {
    if (this.stopped) return;
    const at = this.node.nextWakeAt();
    if (at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.ceil(at - this.clock())));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    this.apply(this.node.tick(this.clock()));
  }
}
