/**
 * Updates waiting to be piggybacked. Each is sent at most `retransmitLimit` times; the least-sent
 * go first (memberlist queue.go TransmitLimitedQueue), and a newer update about a peer replaces
 * the older one, which is then never sent again.
 */
import type { PeerId, Update } from './messages';

interface Item {
  update: Update;
  transmits: number;
}

const NONE: readonly Update[] = Object.freeze([]);

export class BroadcastQueue {
  private items: Item[] = [];
  private readonly byPeer = new Map<PeerId, Item>();

  constructor(
    private readonly retransmitLimit: number,
    private readonly maxItems: number,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** Queues `update`, replacing any queued update about the same peer. */
  enqueue(update: Update): void {
    const old = this.byPeer.get(update.peer);
    if (old) this.items.splice(this.items.indexOf(old), 1);
    const item = { update, transmits: 0 };
    this.items.push(item);
    this.byPeer.set(update.peer, item);
    if (this.items.length > this.maxItems) this.dropMostSent();
  }

  /** The queued update about `peer`, if any. */
  about(peer: PeerId): Update | undefined {
    return this.byPeer.get(peer)?.update;
  }

  /**
   * Up to `max` updates to piggyback on one message, least-sent first; counts them as sent and
   * retires those that reached the limit. The answer is shared and empty when nothing is queued.
   */
  take(max: number): readonly Update[] {
    const n = this.items.length;
    if (n === 0 || max <= 0) return NONE;
    if (n > 1) this.items.sort((a, b) => a.transmits - b.transmits);
    const count = Math.min(max, n);
    const out: Update[] = new Array<Update>(count);
    let retired = false;
    for (let i = 0; i < count; i++) {
      const item = this.items[i];
      out[i] = item.update;
      item.transmits++;
      if (item.transmits >= this.retransmitLimit) retired = true;
    }
    if (retired) {
      this.items = this.items.filter((item) => {
        if (item.transmits < this.retransmitLimit) return true;
        this.byPeer.delete(item.update.peer);
        return false;
      });
    }
    return out;
  }

  private dropMostSent(): void {
    let worst = 0;
    for (let i = 1; i < this.items.length; i++) {
      if (this.items[i].transmits > this.items[worst].transmits) worst = i;
    }
    const [dropped] = this.items.splice(worst, 1);
    this.byPeer.delete(dropped.update.peer);
  }
}
