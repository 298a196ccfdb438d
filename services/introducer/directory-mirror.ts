/**
 * An introducer's copy of one network in the directory, kept by list-then-watch: who is
 * registered, with which record, and which of them are introducers. When the watch cannot resume
 * (the directory compacted its log, or Redis lost its data) it lists again; peers missing from the
 * new list without a DELETE are reported as vanished, not deleted, because a flushed store says
 * nothing about whether they are alive.
 */
import { OutOfRangeError } from '../common/errors';
import type { Logger } from '../common/logging';
import type { PeerRecord, SignedRecord } from '../common/records';
import { sleepUnlessAborted } from '../common/sleep';
import type { DirectoryClient, PeerChange } from '../client/directory-client';
import { EntryTable, hostKey } from './entry-table';

/** The label an introducer's record carries, so replicas find each other in the directory. */
export const ROLE_LABEL = 'grapevine.io/role';
export const INTRODUCER_ROLE = 'introducer';

/** Wait before listing again after the directory did not answer. */
const RETRY_MS = 1_000;

export interface MirrorEntry {
  readonly peerId: string;
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
}

export interface MirrorListener {
  /** A peer registered, or its record changed. */
  put(entry: MirrorEntry): void;
  /** The directory removed a peer: it deregistered, its lease expired, or it was evicted. */
  deleted(entry: MirrorEntry, reason: string): void;
  /** A new list no longer holds a peer, and no DELETE said why. */
  vanished(entry: MirrorEntry): void;
}

export class DirectoryMirror {
  private readonly entries = new EntryTable();
  /**
   * Newcomers being admitted, or admitted but not yet seen on the watch, with the host they
   * advertise and until when (ms, the caller's clock) they count there: without them, joins that
   * run at once, or follow each other faster than the watch, all see room at one address.
   */
  private readonly admitting = new Map<string, { readonly host: string; readonly untilMs: number }>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private listed!: () => void;
  /** Resolves once the first list has been applied. */
  readonly ready = new Promise<void>((resolve) => (this.listed = resolve));

  constructor(
    private readonly client: DirectoryClient,
    private readonly network: string,
    private readonly listener: MirrorListener,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(peerId: string): MirrorEntry | undefined {
    return this.entries.get(peerId);
  }

  values(): IterableIterator<MirrorEntry> {
    return this.entries.values();
  }

  /**
   * Peers advertising `host` (registered, or being admitted), leaving out `except`: what the
   * per-address limit counts.
   */
  countAt(host: string, except: string, nowMs: number): number {
    let count = this.entries.countAt(host);
    const held = this.entries.get(except);
    if (held && hostKey(held) === host) count--;
    for (const [peerId, admitting] of [...this.admitting]) {
      if (admitting.untilMs <= nowMs) this.admitting.delete(peerId);
      else if (peerId !== except && admitting.host === host && !this.entries.has(peerId)) count++;
    }
    return count;
  }

  /** Up to `count` entries drawn at random (with repeats possible; callers skip those). */
  draw(random: () => number, count: number): MirrorEntry[] {
    const size = this.entries.size;
    if (size === 0) return [];
    return Array.from({ length: Math.min(count, 4 * size) }, () => this.entries.at(Math.floor(random() * size)));
  }

  /**
   * Counts a newcomer at `host` until `untilMs` or until the watch shows it; the returned
   * function lets go of the place at once (the join was refused).
   */
  reserve(peerId: string, host: string, untilMs: number): () => void {
    const held = { host, untilMs };
    this.admitting.set(peerId, held);
    return () => {
      if (this.admitting.get(peerId) === held) this.admitting.delete(peerId);
    };
  }

  /** Ids of the registered introducers. */
  introducers(): string[] {
    const ids: string[] = [];
    for (const entry of this.entries.values()) {
      if (entry.record.labels[ROLE_LABEL] === INTRODUCER_ROLE) ids.push(entry.peerId);
    }
    return ids;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const { peers, revision } = await this.client.listAll(this.network);
        this.applyList(peers.map((p) => ({ peerId: p.record.peerId, record: p.record, signed: p.signed })));
        const entryRevision = new Map(peers.map((p) => [p.record.peerId, p.revision]));
        for await (const change of this.client.watch(this.network, { fromRevision: revision, signal })) {
          // Over several pages, a change at or below a peer's own entry is already in the list.
          const seen = entryRevision.get(change.peerId);
          if (seen !== undefined && change.revision <= seen) continue;
          this.applyChange(change);
        }
      } catch (error) {
        if (signal.aborted) return;
        const relist = error instanceof OutOfRangeError;
        this.log.warn(
          { err: (error as Error).message },
          relist ? 'directory watch cannot resume: listing again' : 'directory did not answer: listing again soon',
        );
        if (!relist) await sleepUnlessAborted(RETRY_MS, signal);
      }
    }
  }

  private applyList(fresh: readonly MirrorEntry[]): void {
    const present = new Set<string>();
    for (const entry of fresh) {
      present.add(entry.peerId);
      this.put(entry);
    }
    for (const entry of [...this.entries.values()]) {
      const peerId = entry.peerId;
      if (present.has(peerId)) continue;
      this.entries.delete(peerId);
      this.listener.vanished(entry);
    }
    this.listed();
  }

  private applyChange(change: PeerChange): void {
    const entry = { peerId: change.peerId, record: change.record, signed: change.signed };
    if (change.type === 'put') {
      this.put(entry);
      return;
    }
    this.entries.delete(change.peerId);
    this.listener.deleted(entry, change.reason);
  }

  private put(entry: MirrorEntry): void {
    this.admitting.delete(entry.peerId);
    const held = this.entries.get(entry.peerId);
    if (held && held.record.seq === entry.record.seq) return;
    this.entries.set(entry);
    this.listener.put(entry);
  }
}
