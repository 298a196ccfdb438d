/**
 * The mirror's storage. Pure: no I/O.
 */
import { hostOf } from '../membership/address-group';
import type { MirrorEntry } from './directory-mirror';

/**
 * The entries themselves, kept so that each question a join asks costs the same at ten peers as
 * at a hundred thousand: by id, how many at one host, and a random draw.
 */
export class EntryTable {
  private readonly byId = new Map<string, MirrorEntry>();
  /** Every entry once, in no order, for draws by index. */
  private readonly list: MirrorEntry[] = [];
  private readonly slot = new Map<string, number>();
  private readonly perHost = new Map<string, number>();

  get size(): number {
    return this.list.length;
  }

  get(peerId: string): MirrorEntry | undefined {
    return this.byId.get(peerId);
  }

  has(peerId: string): boolean {
    return this.byId.has(peerId);
  }

  values(): IterableIterator<MirrorEntry> {
    return this.byId.values();
  }

  /** Entries at this host (by the first address's host part). */
  countAt(host: string): number {
    return this.perHost.get(host) ?? 0;
  }

  /** The entry at a position in [0, size), for random draws. */
  at(index: number): MirrorEntry {
    return this.list[index];
  }

  set(entry: MirrorEntry): void {
    this.delete(entry.peerId);
    this.byId.set(entry.peerId, entry);
    this.slot.set(entry.peerId, this.list.length);
    this.list.push(entry);
    const host = hostKey(entry);
    this.perHost.set(host, (this.perHost.get(host) ?? 0) + 1);
  }

  delete(peerId: string): void {
    const entry = this.byId.get(peerId);
    if (!entry) return;
    this.byId.delete(peerId);
    // Swap the last entry into the freed slot: removal stays O(1).
    const index = this.slot.get(peerId)!;
    const last = this.list.pop()!;
    if (last.peerId !== peerId) {
      this.list[index] = last;
      this.slot.set(last.peerId, index);
    }
    this.slot.delete(peerId);
    const host = hostKey(entry);
    const left = (this.perHost.get(host) ?? 1) - 1;
    if (left === 0) this.perHost.delete(host);
    else this.perHost.set(host, left);
  }
}

export function hostKey(entry: MirrorEntry): string {
  const address = entry.record.addresses[0] ?? '';
  return hostOf(address) ?? address;
}
