/**
 * Floods over the active views as an epidemic broadcast tree (Plumtree: Leitão, Pereira and
 * Rodrigues, 2007). A flood is pushed over every link at first; a peer that gets a flood a second
 * time prunes the link the copy came by, so the pushes settle on a spanning tree and a flood costs
 * about one message per peer instead of one per link end. Links off the tree carry the floods' ids
 * instead, batched every floodAnnounceIntervalMs; a peer announced a flood the tree did not bring
 * within floodGraftWaitMs asks the announcer for it, and that link joins the tree again. A new link
 * starts on the tree. The tree is shared by every origin.
 *
 * Pure, as the rest of the core: it is given the time and the active links, and sends through the
 * callbacks it was built with.
 */
import { FloodCache } from './flood-cache';
import { hash53 } from './hash';
import type { Flood, Message, PeerId } from './messages';

/** An active neighbour, as the tree needs it. */
export interface FloodLink {
  readonly id: PeerId;
  readonly address: string;
}

export interface FloodTreeConfig {
  readonly floodCacheSize: number;
  readonly floodAnnounceIntervalMs: number;
  readonly floodGraftWaitMs: number;
}

export interface FloodTreeStats {
  floodsDelivered: number;
  floodDuplicates: number;
  floodGrafts: number;
}

export interface FloodTreeIo {
  /** This peer's id and address, as messages name their sender. */
  readonly self: () => { readonly from: PeerId; readonly fromAddress: string };
  readonly send: (to: FloodLink, message: Message) => void;
  /** A flood reached this peer for the first time. */
  readonly deliver: (flood: Flood) => void;
}

/** Ids in one announcement; a batch that reaches it goes at once. The service refuses more. */
export const MAX_ANNOUNCED_IDS = 256;
/** Announced floods waited for at once; announcements past it are ignored. */
const MAX_MISSING = 1_024;
/** Payload bytes of the floods kept to answer grafts; the oldest go first past it. */
const MAX_KEPT_BYTES = 4 * 1_024 * 1_024;
/** Floods are kept this many announce-and-graft rounds, time for every announcer to be asked. */
const KEPT_ROUNDS = 4;

interface Missing {
  /** Neighbours that announced it, in order: the first is asked once the wait is over. */
  readonly announcers: FloodLink[];
  graftAt: number;
}

export class FloodTree {
  private readonly seen: FloodCache;
  /** Active links pruned from the tree: they get announcements, not floods. */
  private readonly lazy = new Set<PeerId>();
  /** Announcements waiting for the next batch, by neighbour. */
  private readonly batches = new Map<PeerId, { readonly link: FloodLink; readonly ids: string[] }>();
  private nextAnnounceAt = Infinity;
  /** Where in each announce interval this peer sends its batches (see nextAnnounceSlot). */
  private phaseMs: number | undefined;
  private readonly missing = new Map<string, Missing>();
  /** No graft is due before this (it may be early: a tick then finds nothing and recomputes). */
  private nextGraftAt = Infinity;
  /** Floods as this peer pushes them (sender and hops set), kept to answer grafts; oldest first. */
  private readonly kept = new Map<string, { readonly flood: Flood; readonly at: number }>();
  private keptBytes = 0;

  constructor(
    private readonly config: FloodTreeConfig,
    private readonly stats: FloodTreeStats,
    private readonly io: FloodTreeIo,
  ) {
    this.seen = new FloodCache(config.floodCacheSize);
  }

  /** Whether a link is off the tree (announcements only). */
  isLazy(peer: PeerId): boolean {
    return this.lazy.has(peer);
  }

  /** Starts a flood here; `flood` is the message the neighbours get. */
  originate(now: number, flood: Flood, links: readonly FloodLink[]): void {
    this.seen.add(flood.id);
    this.push(now, flood, links, undefined);
  }

  /** A flood arrived over the link from `flood.from`. */
  receive(now: number, flood: Flood, links: readonly FloodLink[]): void {
    const from = flood.from;
    if (!this.seen.add(flood.id)) {
      this.stats.floodDuplicates++;
      // The copy came over a link the tree does not need: both ends stop pushing over it. A copy
      // over a link already pruned here means the neighbour missed the prune: say it again.
      const link = linkTo(links, from);
      if (link) {
        this.lazy.add(from);
        this.io.send(link, { type: 'flood-prune', ...this.io.self() });
      }
      return;
    }
    this.stats.floodsDelivered++;
    this.missing.delete(flood.id);
    // Whatever brought it first is on the tree: a graft's answer, a link new since the last prune.
    this.lazy.delete(from);
    this.io.deliver(flood);
    if (flood.hops >= flood.ttl) return;
    this.push(now, { ...flood, ...this.io.self(), hops: flood.hops + 1 }, links, from);
  }

  /** The neighbour got a flood twice, once from us: it wants announcements only. */
  pruned(from: PeerId, links: readonly FloodLink[]): void {
    if (linkTo(links, from)) this.lazy.add(from);
  }

  /** A neighbour off the tree says which floods it has. */
  announced(now: number, from: PeerId, ids: readonly string[], links: readonly FloodLink[]): void {
    const link = linkTo(links, from);
    if (!link) return;
    for (const id of ids) {
      if (this.seen.has(id)) continue;
      let m = this.missing.get(id);
      if (!m) {
        if (this.missing.size >= MAX_MISSING) continue;
        m = { announcers: [], graftAt: now + this.config.floodGraftWaitMs };
        this.missing.set(id, m);
        this.nextGraftAt = Math.min(this.nextGraftAt, m.graftAt);
      }
      if (!m.announcers.some((a) => a.id === from)) m.announcers.push(link);
    }
  }

  /** A neighbour missed a flood we announced: send it, and push to it from now on. */
  grafted(from: PeerId, id: string, links: readonly FloodLink[]): void {
    const link = linkTo(links, from);
    if (!link) return;
    this.lazy.delete(from);
    const kept = this.kept.get(id);
    if (kept) this.io.send(link, kept.flood);
  }

  /**
   * A new link starts on the tree, and hears of the floods kept here: a peer that was off every
   * neighbour's links while a flood went round (a link lost and made again, a healed partition)
   * grafts the ones it missed instead of never seeing them.
   */
  linkUp(now: number, link: FloodLink): void {
    this.lazy.delete(link.id);
    const keptSince = now - this.keptMs();
    for (const [id, kept] of this.kept) if (kept.at >= keptSince) this.queueAnnouncement(now, link, id);
  }

  linkDown(peer: PeerId): void {
    this.lazy.delete(peer);
    this.batches.delete(peer);
  }

  /** Called after every message the core handles: a field read, not a scan. */
  nextWakeAt(): number {
    return Math.min(this.nextAnnounceAt, this.nextGraftAt);
  }

  tick(now: number, links: readonly FloodLink[]): void {
    if (now >= this.nextAnnounceAt) {
      this.nextAnnounceAt = Infinity;
      for (const batch of this.batches.values()) this.announce(batch.link, batch.ids);
      this.batches.clear();
    }
    if (now < this.nextGraftAt) return;
    this.nextGraftAt = Infinity;
    for (const [id, m] of this.missing) {
      if (now < m.graftAt) {
        this.nextGraftAt = Math.min(this.nextGraftAt, m.graftAt);
        continue;
      }
      let next = m.announcers.shift();
      while (next && !linkTo(links, next.id)) next = m.announcers.shift();
      if (!next) {
        this.missing.delete(id);
        continue;
      }
      // Ask one announcer; if its flood does not come within the wait either, ask the next.
      this.stats.floodGrafts++;
      this.lazy.delete(next.id);
      this.io.send(next, { type: 'flood-graft', ...this.io.self(), id });
      m.graftAt = now + this.config.floodGraftWaitMs;
      this.nextGraftAt = Math.min(this.nextGraftAt, m.graftAt);
    }
  }

  private push(now: number, flood: Flood, links: readonly FloodLink[], except: PeerId | undefined): void {
    this.keep(now, flood);
    for (const link of links) {
      if (link.id === except) continue;
      if (this.lazy.has(link.id)) this.queueAnnouncement(now, link, flood.id);
      else this.io.send(link, flood);
    }
  }

  private queueAnnouncement(now: number, link: FloodLink, id: string): void {
    let batch = this.batches.get(link.id);
    if (!batch) {
      batch = { link, ids: [] };
      this.batches.set(link.id, batch);
    }
    batch.ids.push(id);
    if (batch.ids.length >= MAX_ANNOUNCED_IDS) {
      this.announce(link, batch.ids);
      this.batches.delete(link.id);
    }
    if (this.nextAnnounceAt === Infinity) this.nextAnnounceAt = this.nextAnnounceSlot(now);
  }

  /**
   * The first of this peer's announce times at least half an interval away: one time per
   * interval, at a phase of its own. Peers that got a flood at the same moment would otherwise
   * all announce it at the same moment, one interval later: a burst of messages that delays
   * whatever flood is travelling then. The phase comes from the peer id, so it costs the core's
   * random source nothing. The half interval gives the tree time to deliver first: an
   * announcement that overtakes a flood still on its way over a busy tree brings a needless graft,
   * and each graft rewires the tree.
   */
  private nextAnnounceSlot(now: number): number {
    const interval = this.config.floodAnnounceIntervalMs;
    this.phaseMs ??= hash53(this.io.self().from) % interval;
    const earliest = now + interval / 2;
    return this.phaseMs + Math.ceil((earliest - this.phaseMs) / interval) * interval;
  }

  private announce(link: FloodLink, ids: readonly string[]): void {
    this.io.send(link, { type: 'flood-announce', ...this.io.self(), ids });
  }

  /** How long a flood is kept to answer grafts. */
  private keptMs(): number {
    return KEPT_ROUNDS * (this.config.floodAnnounceIntervalMs + this.config.floodGraftWaitMs);
  }

  private keep(now: number, flood: Flood): void {
    const keepMs = this.keptMs();
    for (const [id, k] of this.kept) {
      if (now - k.at <= keepMs && this.keptBytes + flood.payload.length <= MAX_KEPT_BYTES) break;
      this.kept.delete(id);
      this.keptBytes -= k.flood.payload.length;
    }
    if (flood.payload.length > MAX_KEPT_BYTES) return;
    this.kept.set(flood.id, { flood, at: now });
    this.keptBytes += flood.payload.length;
  }
}

function linkTo(links: readonly FloodLink[], peer: PeerId): FloodLink | undefined {
  for (let i = 0; i < links.length; i++) if (links[i].id === peer) return links[i];
  return undefined;
}
