/**
 * The two bounded views of HyParView: the active view (links this peer probes and floods over)
 * and the passive view (candidates to replace failed links). Both are capped in size and in peers
 * per address group. Peers in neither view are forgotten: memory does not grow with the network.
 */
import { addressGroupId } from './address-group';
import { rememberNewest } from './bounded-memory';
import type { PeerId, SignedRecordBlob } from './messages';
import type { Rng } from './rng';

export interface NeighborRef {
  readonly id: PeerId;
  readonly address: string;
}

export type ViewName = 'active' | 'passive';

/** What this peer knows of another peer in one of its views. */
export interface PeerEntry {
  readonly id: PeerId;
  /** The newest verified record, relayed as received. */
  blob: SignedRecordBlob;
  seq: number;
  address: string;
  /** addressGroupId(address): the /24, /48 or host name, as a number. */
  group: number;
  /** Highest incarnation heard for it. */
  incarnation: number;
  view: ViewName;
  /** Its own active view, as it last reported it (push-pull); who can confirm a suspicion. */
  neighbors: readonly NeighborRef[];
  /** It probed us since our last turn to probe it: it is alive and the link works both ways. */
  probedUs: boolean;
}

const NO_NEIGHBORS: readonly NeighborRef[] = Object.freeze([]);

export function newEntry(id: PeerId, blob: SignedRecordBlob, seq: number, address: string, incarnation = 0): PeerEntry {
  return {
    id,
    blob,
    seq,
    address,
    group: addressGroupId(address),
    incarnation,
    view: 'passive',
    neighbors: NO_NEIGHBORS,
    probedUs: false,
  };
}

export class PeerViews {
  readonly active: PeerEntry[] = [];
  readonly passive: PeerEntry[] = [];
  private readonly byId = new Map<PeerId, PeerEntry>();
  /** The group of each entry, in the same order as the view. */
  private readonly activeGroups: number[] = [];
  private readonly passiveGroups: number[] = [];
  /**
   * The incarnations of peers that left both views, oldest out past a bound. A peer met again
   * starts from what was known of it, not from 0, where every old rumour of it would count again.
   */
  private readonly pastIncarnations = new Map<PeerId, number>();

  constructor(
    readonly activeSize: number,
    readonly passiveSize: number,
    readonly maxPerGroup: number,
  ) {}

  get(id: PeerId): PeerEntry | undefined {
    return this.byId.get(id);
  }

  isActive(id: PeerId): boolean {
    return this.byId.get(id)?.view === 'active';
  }

  get activeFull(): boolean {
    return this.active.length >= this.activeSize;
  }

  /** How many peers no longer in either view are remembered (incarnations, lapsed rumours). */
  get pastMemorySize(): number {
    return this.passiveSize * 4;
  }

  /** Whether `group` still has room in `view`, not counting `except` (already in that view). */
  groupHasRoom(view: ViewName, group: number, except?: PeerEntry): boolean {
    // Views are a few dozen peers: a scan of a small array of numbers kept beside each view is
    // cheaper than keeping counts, and touches no entry.
    const groups = view === 'active' ? this.activeGroups : this.passiveGroups;
    let n = 0;
    for (let i = 0; i < groups.length; i++) if (groups[i] === group) n++;
    if (except && except.view === view && except.group === group && this.byId.get(except.id) === except) n--;
    return n < this.maxPerGroup;
  }

  /**
   * Puts a peer (new, or moving from the passive view) in the active view. The caller makes room
   * first; answers false when the view is full or the peer's group has no room.
   */
  addActive(entry: PeerEntry, rng: Rng): boolean {
    if (entry.view === 'active' && this.byId.get(entry.id) === entry) return true;
    if (this.activeFull || !this.groupHasRoom('active', entry.group)) return false;
    if (this.byId.get(entry.id) === entry) this.detach(entry);
    entry.view = 'active';
    // A random place in the round robin, so a new peer is not always probed next or last.
    const at = rng.int(this.active.length + 1);
    this.active.splice(at, 0, entry);
    this.activeGroups.splice(at, 0, entry.group);
    this.byId.set(entry.id, entry);
    return true;
  }

  /**
   * Puts a peer in the passive view, evicting a random passive peer (preferring one of `evictFirst`)
   * when full. Answers false when the peer's group has no room.
   */
  addPassive(entry: PeerEntry, rng: Rng, evictFirst?: ReadonlySet<PeerId>): boolean {
    if (entry.view === 'passive' && this.byId.get(entry.id) === entry) return true;
    if (!this.groupHasRoom('passive', entry.group)) return false;
    if (this.byId.get(entry.id) === entry) this.detach(entry);
    if (this.passive.length >= this.passiveSize) {
      let victim = -1;
      if (evictFirst && evictFirst.size > 0) victim = this.passive.findIndex((p) => evictFirst.has(p.id));
      if (victim < 0) victim = rng.int(this.passive.length);
      this.remove(this.passive[victim].id);
    }
    entry.view = 'passive';
    this.passive.push(entry);
    this.passiveGroups.push(entry.group);
    this.byId.set(entry.id, entry);
    return true;
  }

  /** Takes a peer out of both views; returns its entry if it was known. */
  remove(id: PeerId): PeerEntry | undefined {
    const entry = this.byId.get(id);
    if (!entry) return undefined;
    this.detach(entry);
    this.byId.delete(id);
    if (entry.incarnation > 0) rememberNewest(this.pastIncarnations, id, entry.incarnation, this.pastMemorySize);
    return entry;
  }

  /** The highest incarnation known of a peer no longer in either view (0 when none is). */
  pastIncarnation(id: PeerId): number {
    return this.pastIncarnations.get(id) ?? 0;
  }

  /** A peer outside both views was heard at `incarnation`: met again, it starts there. */
  heardOutside(id: PeerId, incarnation: number): void {
    if (incarnation > this.pastIncarnation(id)) {
      rememberNewest(this.pastIncarnations, id, incarnation, this.pastMemorySize);
    }
  }

  /**
   * A peer's address (and so its group) changed with a newer record. Answers false, changing
   * nothing, when the new group has no room in the peer's view: a peer admitted under one address
   * must not move into a group that is already full (the caller drops it).
   */
  readdress(entry: PeerEntry, address: string): boolean {
    const group = addressGroupId(address);
    if (group !== entry.group && !this.groupHasRoom(entry.view, group)) return false;
    entry.address = address;
    entry.group = group;
    const list = entry.view === 'active' ? this.active : this.passive;
    const i = list.indexOf(entry);
    if (i >= 0) (entry.view === 'active' ? this.activeGroups : this.passiveGroups)[i] = entry.group;
    return true;
  }

  private detach(entry: PeerEntry): void {
    const list = entry.view === 'active' ? this.active : this.passive;
    const i = list.indexOf(entry);
    if (i >= 0) {
      list.splice(i, 1);
      (entry.view === 'active' ? this.activeGroups : this.passiveGroups).splice(i, 1);
    }
  }
}
