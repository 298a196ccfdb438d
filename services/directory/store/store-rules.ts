/**
 * Rules both stores share, so they answer alike: lease ids, the watch range check, option checks
 * and the wording of refusals.
 */
import { randomBytes } from 'node:crypto';
import { encodeBase32 } from '../../common/base32';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, OutOfRangeError } from '../../common/errors';
import { isDnsLabel } from '../../common/labels';
import { SignedRecord } from '../../common/records';
import { StoreOptions } from './store';

/** Random bytes in a lease id: 120 bits, so a lease id cannot be guessed. */
const LEASE_SECRET_BYTES = 15;

/**
 * Why a watch from `from` cannot be served, or undefined when it can. `firstRetained` is the
 * oldest revision the log still holds (current + 1 when the log is empty).
 */
export function watchRangeProblem(
  network: string,
  from: number,
  current: number,
  firstRetained: number,
): OutOfRangeError | undefined {
  if (!Number.isSafeInteger(from) || from < 0) {
    return new OutOfRangeError(`revision ${from} is not a revision: list network ${network} again`);
  }
  if (from > current) {
    return new OutOfRangeError(
      `revision ${from} is newer than network ${network}'s current revision ${current} (the store may have lost its data): list again`,
    );
  }
  if (from < firstRetained - 1) {
    return new OutOfRangeError(
      `revision ${from} of network ${network} is compacted (the log starts after ${firstRetained - 1}): list again`,
    );
  }
  return undefined;
}

export function checkStoreOptions(options: StoreOptions): void {
  if (!Number.isSafeInteger(options.logRetention) || options.logRetention < 1) {
    throw new RangeError(`logRetention must be a whole number from 1, got ${options.logRetention}`);
  }
  if (!Number.isSafeInteger(options.seqFloorRetentionMs) || options.seqFloorRetentionMs < 1) {
    throw new RangeError(`seqFloorRetentionMs must be a whole number of ms from 1, got ${options.seqFloorRetentionMs}`);
  }
}

/** A lease id is "<network>.<secret>": the network tells Renew where to look without a lookup. */
export function newLeaseId(network: string): string {
  return `${network}.${newLeaseSecret()}`;
}

/**
 * Random bytes drawn from the system CSPRNG a pool at a time: one randomBytes call costs several
 * microseconds whatever its size, and Register makes a lease secret on every call.
 */
const RANDOM_POOL_BYTES = 4_096;
let randomPool = Buffer.alloc(0);
let randomPoolAt = 0;

function poolRandomBytes(count: number): Buffer {
  if (randomPoolAt + count > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolAt = 0;
  }
  const bytes = randomPool.subarray(randomPoolAt, randomPoolAt + count);
  randomPoolAt += count;
  return bytes;
}

export function newLeaseSecret(): string {
  return encodeBase32(poolRandomBytes(LEASE_SECRET_BYTES));
}

const LEASE_SECRET = /^[a-z2-7]{24}$/;

/** Splits a lease id; undefined for anything Register could not have handed out. */
export function parseLeaseId(leaseId: string): { network: string; secret: string } | undefined {
  const dot = leaseId.indexOf('.');
  if (dot < 0) return undefined;
  const network = leaseId.slice(0, dot);
  const secret = leaseId.slice(dot + 1);
  if (!isDnsLabel(network) || !LEASE_SECRET.test(secret)) return undefined;
  return { network, secret };
}

export function staleSeqError(peerId: string, seq: number, heldSeq: number): FailedPreconditionError {
  return new FailedPreconditionError(
    `record seq ${seq} is not above seq ${heldSeq}, which the directory holds for peer ${peerId}: sign a record with a higher seq`,
  );
}

export function floorSeqError(peerId: string, seq: number, floorSeq: number): FailedPreconditionError {
  return new FailedPreconditionError(
    `record seq ${seq} is not above seq ${floorSeq} of peer ${peerId}'s recently removed record: sign a record with a higher seq`,
  );
}

export function staleTombstoneError(peerId: string, seq: number, heldSeq: number): FailedPreconditionError {
  return new FailedPreconditionError(
    `withdrawn record seq ${seq} is not above seq ${heldSeq}, which the directory holds for peer ${peerId}: sign the withdrawal with a higher seq`,
  );
}

export function nameTakenError(network: string, name: string, holderId: string): AlreadyExistsError {
  return new AlreadyExistsError(
    `name ${name} in network ${network} is held by live peer ${holderId}: choose another name, or wait until that peer's lease ends`,
  );
}

export function peerNotFoundError(network: string, peerId: string): NotFoundError {
  return new NotFoundError(`peer ${peerId} is not registered in network ${network}`);
}

/** For calls that need a live peer: one whose lease has ended is gone, even before a sweep. */
export function peerNotLiveError(network: string, peerId: string): NotFoundError {
  return new NotFoundError(`peer ${peerId} is not live in network ${network} (not registered, or its lease has ended)`);
}

export function evictSeqError(peerId: string, seq: number, heldSeq: number): FailedPreconditionError {
  return new FailedPreconditionError(
    `the directory holds seq ${heldSeq} for peer ${peerId}, not seq ${seq} that was found dead: the peer has changed its record since, so it was not evicted`,
  );
}

export function leaseNotFoundError(leaseId: string): NotFoundError {
  return new NotFoundError(`lease ${leaseId.slice(0, 128)} is unknown or has ended: register again`);
}

/** True when two signed records are the same bytes with the same signature. */
export function sameSignedRecord(a: SignedRecord, b: SignedRecord): boolean {
  return Buffer.compare(a.record, b.record) === 0 && Buffer.compare(a.signature, b.signature) === 0;
}

/** Orders peer ids the way Redis orders zset members: by their bytes. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
