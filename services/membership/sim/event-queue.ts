/**
 * The simulator's queues: binary min-heaps over (time, insertion order), so events at the same
 * virtual time run in the order they were scheduled and a seeded run replays exactly.
 */

/** A heap of timed values (messages in flight, scheduled faults). */
export class EventHeap<T> {
  private times = new Float64Array(1_024);
  private order = new Float64Array(1_024);
  private values: (T | undefined)[] = new Array<T | undefined>(1_024);
  private count = 0;
  private inserted = 0;

  get size(): number {
    return this.count;
  }

  /** Time of the earliest event; Infinity when empty. */
  peekTime(): number {
    return this.count === 0 ? Infinity : this.times[0];
  }

  push(time: number, value: T): void {
    if (this.count === this.times.length) this.grow();
    let i = this.count++;
    const order = this.inserted++;
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = this.times[parent];
      if (pt < time || (pt === time && this.order[parent] < order)) break;
      this.times[i] = pt;
      this.order[i] = this.order[parent];
      this.values[i] = this.values[parent];
      i = parent;
    }
    this.times[i] = time;
    this.order[i] = order;
    this.values[i] = value;
  }

  /** Removes and returns the earliest value (undefined when empty). */
  pop(): T | undefined {
    if (this.count === 0) return undefined;
    const top = this.values[0];
    const last = --this.count;
    const time = this.times[last];
    const order = this.order[last];
    const value = this.values[last];
    this.values[last] = undefined;
    if (last > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= last) break;
        const right = child + 1;
        if (
          right < last &&
          (this.times[right] < this.times[child] ||
            (this.times[right] === this.times[child] && this.order[right] < this.order[child]))
        ) {
          child = right;
        }
        const ct = this.times[child];
        if (time < ct || (time === ct && order < this.order[child])) break;
        this.times[i] = ct;
        this.order[i] = this.order[child];
        this.values[i] = this.values[child];
        i = child;
      }
      this.times[i] = time;
      this.order[i] = order;
      this.values[i] = value;
    }
    return top;
  }

  private grow(): void {
    const size = this.times.length * 2;
    const times = new Float64Array(size);
    times.set(this.times);
    const order = new Float64Array(size);
    order.set(this.order);
    this.times = times;
    this.order = order;
    this.values.length = size;
  }
}

/**
 * One wake-up time per node, changeable in place (an indexed heap): rescheduling a node's timer
 * is a sift, not a new event, so cancelled timers cost nothing later.
 */
export class WakeHeap {
  private readonly heap: Int32Array;
  private readonly pos: Int32Array;
  private readonly times: Float64Array;
  private count = 0;

  constructor(capacity: number) {
    this.heap = new Int32Array(capacity);
    this.pos = new Int32Array(capacity).fill(-1);
    this.times = new Float64Array(capacity).fill(Infinity);
  }

  get size(): number {
    return this.count;
  }

  peekTime(): number {
    return this.count === 0 ? Infinity : this.times[this.heap[0]];
  }

  peekNode(): number {
    return this.count === 0 ? -1 : this.heap[0];
  }

  timeOf(node: number): number {
    return this.times[node];
  }

  /** Sets (or, with Infinity, clears) a node's wake-up time. */
  set(node: number, time: number): void {
    const at = this.pos[node];
    if (time === Infinity) {
      if (at >= 0) this.removeAt(at);
      this.times[node] = Infinity;
      return;
    }
    if (at < 0) {
      this.times[node] = time;
      this.heap[this.count] = node;
      this.pos[node] = this.count;
      this.up(this.count++);
      return;
    }
    const old = this.times[node];
    if (old === time) return;
    this.times[node] = time;
    if (time < old) this.up(at);
    else this.down(at);
  }

  private removeAt(at: number): void {
    const node = this.heap[at];
    const last = --this.count;
    this.pos[node] = -1;
    if (at === last) return;
    const moved = this.heap[last];
    this.heap[at] = moved;
    this.pos[moved] = at;
    this.up(at);
    this.down(this.pos[moved]);
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a];
    const tb = this.times[b];
    return ta < tb || (ta === tb && a < b);
  }

  private up(i: number): void {
    const node = this.heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pn = this.heap[parent];
      if (!this.less(node, pn)) break;
      this.heap[i] = pn;
      this.pos[pn] = i;
      i = parent;
    }
    this.heap[i] = node;
    this.pos[node] = i;
  }

  private down(i: number): void {
    const node = this.heap[i];
    const n = this.count;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(this.heap[child + 1], this.heap[child])) child++;
      const cn = this.heap[child];
      if (!this.less(cn, node)) break;
      this.heap[i] = cn;
      this.pos[cn] = i;
      i = child;
    }
    this.heap[i] = node;
    this.pos[node] = i;
  }
}
