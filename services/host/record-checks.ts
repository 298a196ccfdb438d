/**
 * Record verification for the host: a cache in front of Ed25519 verification (the same records
 * arrive again and again through gossip, and verifying costs far more than a lookup), the core's
 * RecordVerifier built on it, and the checks peer calls apply to the records they carry.
 */
import { FailedPreconditionError, PermissionDeniedError } from '../common/errors';
import { ownedCopy } from '../common/owned-bytes';
import { openRecord, type PeerRecord } from '../common/records';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import type { RecordVerifier, RecordView, SignedRecordBlob } from '../membership';
import { rememberNewest } from '../membership/bounded-memory';

/**
 * Records verified in this process, by signature, for every host it runs: a verdict on the same
 * bytes and signature never changes, and hosts sharing a process (tests, `grapevine dev`, a
 * benchmark's fleet) hear the same records. A few views' worth of peers and their neighbours for
 * each of a handful of hosts. A hit needs the same bytes as well as the same signature; the
 * network is checked on every open, since hosts of different networks share it.
 */
const VERIFIED_CAPACITY = 8_192;
const verified = new Map<string, { bytes: Buffer; record: PeerRecord }>();

function signatureKey(signature: Uint8Array): string {
  // A view, not a copy: this runs for every record every peer call carries.
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
}

function remember(key: string, bytes: Uint8Array, record: PeerRecord): void {
  // A copy: the record's bytes are a view into the whole message that carried them.
  rememberNewest(verified, key, { bytes: ownedCopy(bytes), record }, VERIFIED_CAPACITY);
}

export class RecordChecker {
  constructor(
    /** The network this host belongs to: records of any other are refused. */
    readonly network: string,
  ) {}

  /**
   * Decodes and verifies a record, or throws the error openRecord names (INVALID_ARGUMENT,
   * PERMISSION_DENIED, RESOURCE_EXHAUSTED). `field` names it in the message.
   */
  open(blob: SignedRecordBlob | undefined, field: string): PeerRecord {
    let record: PeerRecord;
    if (blob && blob.signature.length > 0) {
      const key = signatureKey(blob.signature);
      const hit = verified.get(key);
      if (hit?.bytes.equals(blob.record)) {
        record = hit.record;
      } else {
        record = this.verify(blob, field);
        remember(key, blob.record, record);
      }
    } else {
      record = this.verify(blob, field);
    }
    if (record.network !== this.network) {
      throw new FailedPreconditionError(
        `${field} is for network "${record.network}", but this host is in network "${this.network}"`,
      );
    }
    return record;
  }

  /**
   * A record this host has just signed itself, with the record it encodes: known good without an
   * Ed25519 check (or even a decode), which would otherwise run once for every record it issues.
   */
  trustOwn(signed: SignedRecord, record: PeerRecord): void {
    remember(signatureKey(signed.signature), signed.record, record);
  }

  /** The core's verifier: undefined instead of an error. */
  readonly verifier: RecordVerifier = (blob): RecordView | undefined => {
    try {
      const r = this.open(blob, 'record');
      return { peerId: r.peerId, seq: r.seq, addresses: r.addresses, withdrawn: r.withdrawn };
    } catch {
      return undefined;
    }
  };

  /**
   * A record a peer sends about itself: it must verify, belong to the sender, and not be older
   * than `knownSeq` (the newest seq this host holds for the sender).
   */
  openOwn(blob: SignedRecord | undefined, senderId: string, knownSeq: number | undefined, field: string): PeerRecord {
    const record = this.open(blob, field);
    if (record.peerId !== senderId) {
      throw new PermissionDeniedError(
        `${field} belongs to peer ${record.peerId}, but the call comes from ${senderId}: a peer may only present its own record`,
      );
    }
    if (knownSeq !== undefined && record.seq < knownSeq) {
      throw new FailedPreconditionError(
        `${field} of peer ${senderId} has seq ${record.seq}, older than seq ${knownSeq} already known: send the newest record`,
      );
    }
    return record;
  }

  /** Every record must verify; the first that does not fails the whole call. */
  openAll(blobs: readonly (SignedRecord | undefined)[], field: string): PeerRecord[] {
    return blobs.map((blob, i) => this.open(blob, `${field}[${i}]`));
  }

  private verify(blob: SignedRecordBlob | undefined, field: string): PeerRecord {
    try {
      return openRecord(blob as SignedRecord | undefined);
    } catch (error) {
      (error as Error).message = `${field}: ${(error as Error).message}`;
      throw error;
    }
  }
}
