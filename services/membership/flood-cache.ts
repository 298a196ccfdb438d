/**
 * Flood ids already seen, for duplicate suppression. Bounded: the oldest id is forgotten first
 * (a ring of ids next to a set), so memory does not grow with traffic. The ring grows to its
 * capacity only as ids arrive: a quiet peer holds almost nothing.
 */
export class FloodCache {
  private readonly seen = new Set<string>();
  private ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.seen.size;
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Remembers `id`; returns false when it was already known (a duplicate). */
  add(id: string): boolean {
    if (this.seen.has(id)) return false;
    if (this.ring.length < this.capacity) {
      this.ring.push(id);
    } else {
      this.seen.delete(this.ring[this.next]);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    this.seen.add(id);
    return true;
  }
}
