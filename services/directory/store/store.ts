/**
 * The directory's store contract. Two implementations pass one contract suite
 * (store-contract.ts): Redis for production, memory for `grapevine dev` and tests.
 *
 * Every mutation is all-or-nothing: a failed call leaves no record, name claim, lease, deadline or
 * change-log entry behind. Revisions are per network, grow by exactly one per change event and
 * never go back, not even after the store is flushed (see each implementation for how).
 */
import { PeerRecord, SignedRecord } from '../../common/records';

/** A live peer as stored. */
export interface StoredPeer {
  /** The record's peer id, readable without decoding the record (the Redis store decodes it lazily). */
  readonly peerId: string;
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
  /** The revision of the change event that wrote this record. */
  readonly revision: number;
  readonly leaseId: string;
  /** When the lease ends, in ms since the epoch of the store's clock. */
  readonly expiresAtMs: number;
}

export type ChangeType = 'put' | 'delete';
/** Why a peer left: it withdrew itself, its lease ran out, or an introducer found it dead. */
export type DeleteReason = 'deregistered' | 'expired' | 'evicted';

/** One entry of a network's change log. */
export interface ChangeEvent {
  readonly type: ChangeType;
  readonly revision: number;
  readonly peerId: string;
  /** The record now held (put) or the last record held (delete). */
  readonly signed: SignedRecord;
  readonly reason?: DeleteReason;
}

export interface RegisterInput {
  /** Already opened and verified by the caller (records.openRecord). */
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
  readonly ttlMs: number;
}

export interface RegisterResult {
  readonly leaseId: string;
  /** The revision of the peer's entry: a new one, or the held one for a repeated registration. */
  readonly revision: number;
}

export interface ListPage {
  readonly peers: StoredPeer[];
  /** Peer id to continue after, or undefined when this was the last page. */
  readonly nextAfter?: string;
  /** The revision the page was read at, atomically with its contents. */
  readonly revision: number;
}

export interface Subscription {
  /** Stops delivery; safe to call twice. */
  close(): void;
}

export interface WatchHandlers {
  /** Called in revision order, each revision exactly once. */
  onEvent(event: ChangeEvent): void;
  /** The watch cannot continue (store lost, revision compacted): the watcher must list again. */
  onError(error: Error): void;
}

export interface DirectoryStore {
  /**
   * Stores a record under a new lease (ending any lease the peer held), claims its name, and
   * appends a put event.
   *
   * Registering again the very record a live peer holds (the same record bytes and the same
   * signature) is not a change: it answers the peer's current lease id and entry revision, moves
   * the lease's deadline to now + ttlMs (and makes ttlMs its TTL for later renewals), and appends
   * nothing. So a Register whose answer was lost can be retried, and an introducer and the
   * newcomer it registered share one lease. A peer whose lease has ended is not live, so the same
   * record then counts as a stale seq.
   *
   * Throws FailedPreconditionError when record.seq is not above the seq held (or the floor left
   * by a recent delete), AlreadyExistsError when another live peer holds the name. A holder whose
   * lease has ended but was not yet swept is not live: it is expired first (a delete event with
   * reason 'expired'), then the name changes hands.
   */
  register(input: RegisterInput): Promise<RegisterResult>;

  /**
   * Replaces a live peer's record with a newer one (already opened and verified by the caller;
   * not withdrawn), keeping its lease: same lease id, TTL and deadline. A changed name is claimed
   * and the old one freed; a holder of the new name whose lease has ended is expired first, as
   * in register. Appends a put event.
   * Throws NotFoundError when the peer is not live (unknown, or its lease has ended),
   * FailedPreconditionError when record.seq is not above the seq held, AlreadyExistsError when
   * another live peer holds the new name.
   */
  updateRecord(record: PeerRecord, signed: SignedRecord): Promise<{ revision: number }>;

  /**
   * Pushes the lease's deadline to now + its TTL. One round trip to the store.
   * Throws NotFoundError when the lease is unknown or already ended (its deadline has passed,
   * even if no sweep has removed the peer yet).
   */
  renew(leaseId: string): Promise<{ ttlMs: number }>;

  /**
   * Removes the peer named by a withdrawn record, frees its name, ends its lease, leaves a seq
   * floor so the removed record cannot be replayed, and appends a delete event.
   * Throws NotFoundError when the peer is not registered, FailedPreconditionError when the
   * withdrawn record's seq is not above the seq held.
   */
  deregister(record: PeerRecord, signed: SignedRecord): Promise<{ revision: number }>;

  /**
   * Removes a live peer that was found dead, but only while the store holds exactly `seq` for
   * it, so a peer that registered a newer record since is left alone. Like an expiry it frees
   * the name, ends the lease, leaves a seq floor at the held seq, and appends a delete event,
   * with reason 'evicted'.
   * Throws NotFoundError when the peer is not live (unknown, or its lease has ended),
   * FailedPreconditionError naming both seqs when the held seq is another.
   */
  evict(network: string, peerId: string, seq: number): Promise<{ revision: number }>;

  resolveById(network: string, peerId: string): Promise<StoredPeer | undefined>;
  resolveByName(network: string, name: string): Promise<StoredPeer | undefined>;

  /**
   * Reads up to `scanLimit` peers with ids after `after`, in id order, atomically with the
   * network's current revision.
   */
  list(network: string, options: { after?: string; scanLimit: number }): Promise<ListPage>;

  /** The network's current revision (0 for a network that never changed). */
  revision(network: string): Promise<number>;

  /**
   * Delivers every event with a revision above `fromRevision`, then live events, in order.
   * `fromRevision` undefined means from now; 0 means from the empty network before its first
   * change (what a list of a never-written network returns). The handlers' onError gets
   * OutOfRangeError when `fromRevision` is older than the log keeps (or newer than the store has
   * ever reached, as after a flush), UnavailableError when the store is lost or closed. Errors
   * always come through onError, never as a rejection; after onError nothing more is delivered.
   * The returned promise resolves once the backlog has been delivered (or onError called).
   */
  watch(network: string, fromRevision: number | undefined, handlers: WatchHandlers): Promise<Subscription>;

  /**
   * Ends leases whose deadline has passed: removes their peers, frees names, leaves seq floors,
   * appends delete events with reason 'expired'. Idempotent and safe to run from every replica
   * at once. Returns how many leases it ended.
   */
  sweepExpired(): Promise<number>;

  /** Live peers per network, for the peers gauge. */
  countPeers(): Promise<Map<string, number>>;

  /** Resolves when the store answers; throws UnavailableError when it does not. */
  ping(): Promise<void>;

  /**
   * Ends every watch with UnavailableError and closes what the store opened itself; later calls
   * throw UnavailableError. Connections handed in by the caller stay open.
   */
  close(): Promise<void>;
}

/** What every store is configured with; clocks are injected so tests can move time. */
export interface StoreOptions {
  /** How many change events the log keeps per network before older ones are compacted. */
  readonly logRetention: number;
  /** How long a removed peer's seq floor blocks replays of its older records, in ms. */
  readonly seqFloorRetentionMs: number;
  /** The store's clock, ms since the epoch. */
  readonly now: () => number;
}
