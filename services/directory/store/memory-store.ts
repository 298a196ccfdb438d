/**
 * The in-process store: `grapevine dev` and tests. Everything lives in plain Maps and is lost when
 * the process ends. It keeps the same rules as the Redis store (store-contract.ts checks both), so
 * a test that passes here says something about production.
 *
 * Every method does all of its checks before its first write, and runs without awaiting in
 * between, so a failed call changes nothing and no other call sees half of one.
 */
import { InvalidArgumentError, UnavailableError } from '../../common/errors';
import { ownedCopy } from '../../common/owned-bytes';
import { PeerRecord, SignedRecord } from '../../common/records';
import {
  ChangeEvent,
  DeleteReason,
  DirectoryStore,
  ListPage,
  RegisterInput,
  RegisterResult,
  StoreOptions,
  StoredPeer,
  Subscription,
  WatchHandlers,
} from './store';
import {
  checkStoreOptions,
  compareIds,
  evictSeqError,
  floorSeqError,
  leaseNotFoundError,
  nameTakenError,
  newLeaseId,
  parseLeaseId,
  peerNotFoundError,
  peerNotLiveError,
  sameSignedRecord,
  staleSeqError,
  staleTombstoneError,
  watchRangeProblem,
} from './store-rules';

interface PeerEntry {
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
  readonly revision: number;
  readonly leaseId: string;
  ttlMs: number;
  expiresAtMs: number;
}

interface SeqFloor {
  readonly seq: number;
  /** On the store's clock; the floor no longer counts from then on. */
  readonly untilMs: number;
}

interface Watcher {
  readonly handlers: WatchHandlers;
  closed: boolean;
}

interface NetworkState {
  /** The revision of the last change event; 0 before the first. */
  revision: number;
  readonly peers: Map<string, PeerEntry>;
  /** Peer ids in ascending order, for paging. */
  readonly ids: string[];
  /** name -> peer id */
  readonly names: Map<string, string>;
  /** lease id -> peer id */
  readonly leases: Map<string, string>;
  readonly floors: Map<string, SeqFloor>;
  /** The last `logRetention` change events, oldest first. */
  readonly log: ChangeEvent[];
  readonly watchers: Set<Watcher>;
}

export function createMemoryStore(options: StoreOptions): DirectoryStore {
  checkStoreOptions(options);
  const networks = new Map<string, NetworkState>();
  let closed = false;

  const now = (): number => Math.floor(options.now());

  function stateOf(network: string): NetworkState {
    let state = networks.get(network);
    if (!state) {
      state = {
        revision: 0,
        peers: new Map(),
        ids: [],
        names: new Map(),
        leases: new Map(),
        floors: new Map(),
        log: [],
        watchers: new Set(),
      };
      networks.set(network, state);
    }
    return state;
  }

  function checkOpen(): void {
    if (closed) throw new UnavailableError('the in-process directory store is closed');
  }

  function liveFloor(state: NetworkState, peerId: string, nowMs: number): number | undefined {
    const floor = state.floors.get(peerId);
    return floor && floor.untilMs > nowMs ? floor.seq : undefined;
  }

  function append(state: NetworkState, event: Omit<ChangeEvent, 'revision'>): number {
    state.revision += 1;
    const full: ChangeEvent = { ...event, revision: state.revision };
    state.log.push(full);
    if (state.log.length > options.logRetention) state.log.splice(0, state.log.length - options.logRetention);
    for (const watcher of state.watchers) deliver(state, watcher, full);
    return state.revision;
  }

  function deliver(state: NetworkState, watcher: Watcher, event: ChangeEvent): void {
    if (watcher.closed) return;
    try {
      watcher.handlers.onEvent(event);
    } catch (error) {
      // A handler that throws cannot keep up with the log; end its watch rather than the write.
      fail(state, watcher, error instanceof Error ? error : new Error(String(error)));
    }
  }

  function fail(state: NetworkState, watcher: Watcher, error: Error): void {
    if (watcher.closed) return;
    watcher.closed = true;
    state.watchers.delete(watcher);
    try {
      watcher.handlers.onError(error);
    } catch {
      // Nothing more can be told to a watcher whose error handler throws.
    }
  }

  /** Removes a peer and everything that points at it, and appends its delete event. */
  function removePeer(
    state: NetworkState,
    entry: PeerEntry,
    reason: DeleteReason,
    floorSeq: number,
    nowMs: number,
  ): number {
    const peerId = entry.record.peerId;
    state.peers.delete(peerId);
    removeSorted(state.ids, peerId);
    if (entry.record.name !== '' && state.names.get(entry.record.name) === peerId)
      state.names.delete(entry.record.name);
    state.leases.delete(entry.leaseId);
    state.floors.set(peerId, { seq: floorSeq, untilMs: nowMs + options.seqFloorRetentionMs });
    return append(state, { type: 'delete', peerId, signed: entry.signed, reason });
  }

  /** The peer's entry while its lease runs; undefined once it has ended, swept or not. */
  function livePeer(state: NetworkState | undefined, peerId: string, nowMs: number): PeerEntry | undefined {
    const entry = state?.peers.get(peerId);
    return entry && entry.expiresAtMs > nowMs ? entry : undefined;
  }

  /**
   * Checks that `peerId` may take `name`: throws when another live peer holds it, and returns a
   * holder whose lease has ended (not yet swept), which the caller expires before the claim.
   */
  function nameClaim(state: NetworkState, network: string, name: string, peerId: string, nowMs: number) {
    if (name === '') return undefined;
    const holderId = state.names.get(name);
    const holder = holderId === undefined || holderId === peerId ? undefined : state.peers.get(holderId);
    if (holder && holder.expiresAtMs > nowMs) throw nameTakenError(network, name, holder.record.peerId);
    return holder;
  }

  /** Frees the peer's old name when its new record names another (or none). */
  function releaseOldName(state: NetworkState, old: PeerRecord, next: PeerRecord): void {
    if (old.name !== '' && old.name !== next.name && state.names.get(old.name) === old.peerId) {
      state.names.delete(old.name);
    }
  }

  function toStored(entry: PeerEntry): StoredPeer {
    return {
      peerId: entry.record.peerId,
      record: entry.record,
      signed: entry.signed,
      revision: entry.revision,
      leaseId: entry.leaseId,
      expiresAtMs: entry.expiresAtMs,
    };
  }

  const store: DirectoryStore = {
    async register({ record, signed: given, ttlMs }: RegisterInput): Promise<RegisterResult> {
      checkOpen();
      checkTtl(ttlMs);
      const nowMs = now();
      const state = stateOf(record.network);
      const peerId = record.peerId;
      const current = state.peers.get(peerId);
      if (current && current.expiresAtMs > nowMs && sameSignedRecord(current.signed, given)) {
        // The record already held, registered again: the same lease, pushed on; no change.
        current.ttlMs = ttlMs;
        current.expiresAtMs = nowMs + ttlMs;
        return { leaseId: current.leaseId, revision: current.revision };
      }
      if (current && record.seq <= current.record.seq) throw staleSeqError(peerId, record.seq, current.record.seq);
      const floor = liveFloor(state, peerId, nowMs);
      if (floor !== undefined && record.seq <= floor) throw floorSeqError(peerId, record.seq, floor);
      const expiredHolder = nameClaim(state, record.network, record.name, peerId, nowMs);

      // Every check passed: from here on nothing throws.
      if (expiredHolder) removePeer(state, expiredHolder, 'expired', expiredHolder.record.seq, nowMs);
      if (current) {
        state.leases.delete(current.leaseId);
        releaseOldName(state, current.record, record);
      } else {
        insertSorted(state.ids, peerId);
      }
      const leaseId = newLeaseId(record.network);
      const revision = state.revision + 1;
      const signed = kept(given);
      state.peers.set(peerId, { record, signed, revision, leaseId, ttlMs, expiresAtMs: nowMs + ttlMs });
      if (record.name !== '') state.names.set(record.name, peerId);
      state.leases.set(leaseId, peerId);
      state.floors.delete(peerId);
      append(state, { type: 'put', peerId, signed });
      return { leaseId, revision };
    },

    async updateRecord(record: PeerRecord, given: SignedRecord): Promise<{ revision: number }> {
      checkOpen();
      const nowMs = now();
      const state = networks.get(record.network);
      const peerId = record.peerId;
      const current = livePeer(state, peerId, nowMs);
      if (!state || !current) throw peerNotLiveError(record.network, peerId);
      if (record.seq <= current.record.seq) throw staleSeqError(peerId, record.seq, current.record.seq);
      const expiredHolder = nameClaim(state, record.network, record.name, peerId, nowMs);

      // Every check passed: from here on nothing throws.
      if (expiredHolder) removePeer(state, expiredHolder, 'expired', expiredHolder.record.seq, nowMs);
      releaseOldName(state, current.record, record);
      const revision = state.revision + 1;
      // The lease stays as it is: same id, TTL and deadline.
      const signed = kept(given);
      state.peers.set(peerId, { ...current, record, signed, revision });
      if (record.name !== '') state.names.set(record.name, peerId);
      append(state, { type: 'put', peerId, signed });
      return { revision };
    },

    async evict(network: string, peerId: string, seq: number): Promise<{ revision: number }> {
      checkOpen();
      const nowMs = now();
      const state = networks.get(network);
      const current = livePeer(state, peerId, nowMs);
      if (!state || !current) throw peerNotLiveError(network, peerId);
      if (current.record.seq !== seq) throw evictSeqError(peerId, seq, current.record.seq);
      return { revision: removePeer(state, current, 'evicted', current.record.seq, nowMs) };
    },

    async renew(leaseId: string): Promise<{ ttlMs: number }> {
      checkOpen();
      const nowMs = now();
      const network = parseLeaseId(leaseId)?.network;
      const state = network === undefined ? undefined : networks.get(network);
      const peerId = state?.leases.get(leaseId);
      const entry = peerId === undefined ? undefined : state?.peers.get(peerId);
      if (!entry || entry.expiresAtMs <= nowMs) throw leaseNotFoundError(leaseId);
      entry.expiresAtMs = nowMs + entry.ttlMs;
      return { ttlMs: entry.ttlMs };
    },

    async deregister(record: PeerRecord, _signed: SignedRecord): Promise<{ revision: number }> {
      checkOpen();
      const nowMs = now();
      const state = networks.get(record.network);
      const current = state?.peers.get(record.peerId);
      if (!state || !current) throw peerNotFoundError(record.network, record.peerId);
      if (record.seq <= current.record.seq) throw staleTombstoneError(record.peerId, record.seq, current.record.seq);
      return { revision: removePeer(state, current, 'deregistered', record.seq, nowMs) };
    },

    async resolveById(network: string, peerId: string): Promise<StoredPeer | undefined> {
      checkOpen();
      const entry = networks.get(network)?.peers.get(peerId);
      return entry && toStored(entry);
    },

    async resolveByName(network: string, name: string): Promise<StoredPeer | undefined> {
      checkOpen();
      const state = networks.get(network);
      const peerId = state?.names.get(name);
      const entry = peerId === undefined ? undefined : state?.peers.get(peerId);
      return entry && toStored(entry);
    },

    async list(network: string, { after, scanLimit }: { after?: string; scanLimit: number }): Promise<ListPage> {
      checkOpen();
      checkScanLimit(scanLimit);
      const state = networks.get(network);
      if (!state) return { peers: [], revision: 0 };
      const start = after === undefined ? 0 : firstIndexAbove(state.ids, after);
      const ids = state.ids.slice(start, start + scanLimit);
      const more = start + scanLimit < state.ids.length;
      return {
        peers: ids.map((id) => toStored(state.peers.get(id) as PeerEntry)),
        nextAfter: more ? ids[ids.length - 1] : undefined,
        revision: state.revision,
      };
    },

    async revision(network: string): Promise<number> {
      checkOpen();
      return networks.get(network)?.revision ?? 0;
    },

    async watch(network: string, fromRevision: number | undefined, handlers: WatchHandlers): Promise<Subscription> {
      const watcher: Watcher = { handlers, closed: false };
      const state = stateOf(network);
      const subscription: Subscription = {
        close() {
          watcher.closed = true;
          state.watchers.delete(watcher);
        },
      };
      if (closed) {
        fail(state, watcher, new UnavailableError('the in-process directory store is closed'));
        return subscription;
      }
      const from = fromRevision ?? state.revision;
      const problem = watchRangeProblem(network, from, state.revision, state.log[0]?.revision ?? state.revision + 1);
      if (problem) {
        fail(state, watcher, problem);
        return subscription;
      }
      // Backlog and live delivery happen in one synchronous stretch, so no write can fall between.
      for (const event of state.log) {
        if (event.revision > from) deliver(state, watcher, event);
      }
      if (!watcher.closed) state.watchers.add(watcher);
      return subscription;
    },

    async sweepExpired(): Promise<number> {
      checkOpen();
      const nowMs = now();
      let ended = 0;
      for (const state of networks.values()) {
        // The Redis store ends leases in (deadline, peer id) order; so does this one, so both
        // write the same log.
        const expired = [...state.peers.values()]
          .filter((entry) => entry.expiresAtMs <= nowMs)
          .sort((a, b) => a.expiresAtMs - b.expiresAtMs || compareIds(a.record.peerId, b.record.peerId));
        for (const entry of expired) removePeer(state, entry, 'expired', entry.record.seq, nowMs);
        ended += expired.length;
        for (const [peerId, floor] of state.floors) {
          if (floor.untilMs <= nowMs) state.floors.delete(peerId);
        }
      }
      return ended;
    },

    async countPeers(): Promise<Map<string, number>> {
      checkOpen();
      // A network only watched, never written, is not one the store knows of (nor is it in Redis).
      return new Map(
        [...networks].filter(([, state]) => state.revision > 0).map(([network, state]) => [network, state.peers.size]),
      );
    },

    async ping(): Promise<void> {
      checkOpen();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const state of networks.values()) {
        for (const watcher of [...state.watchers]) {
          fail(
            state,
            watcher,
            new UnavailableError('the directory store is shutting down; watch again on another replica'),
          );
        }
      }
    },
  };
  return store;
}

/**
 * The signed bytes as the store keeps them: copies of their own, not views into the request they
 * were decoded from, which would stay alive as long as the peer does (owned-bytes.ts).
 */
function kept(signed: SignedRecord): SignedRecord {
  return { record: ownedCopy(signed.record), signature: ownedCopy(signed.signature) };
}

function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1)
    throw new InvalidArgumentError(`lease TTL must be a whole number of ms from 1, got ${ttlMs}`);
}

function checkScanLimit(scanLimit: number): void {
  if (!Number.isSafeInteger(scanLimit) || scanLimit < 1)
    throw new InvalidArgumentError(`scan limit must be a whole number from 1, got ${scanLimit}`);
}

function firstIndexAbove(sorted: string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}

function insertSorted(sorted: string[], value: string): void {
  sorted.splice(firstIndexAbove(sorted, value), 0, value);
}

function removeSorted(sorted: string[], value: string): void {
  const index = firstIndexAbove(sorted, value) - 1;
  if (index >= 0 && sorted[index] === value) sorted.splice(index, 1);
}
