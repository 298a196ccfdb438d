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

/** Verified records remembered; a few views' worth of peers and their neighbours. */
const DEFAULT_CACHE_SIZE = 4_096;

export class RecordChecker {
  private readonly verified = new Map<string, { bytes: Buffer; record: PeerRecord }>();

  constructor(
    /** The network this host belongs to: records of any other are refused. */
    readonly network: string,
    private readonly capacity = DEFAULT_CACHE_SIZE,
  ) {}

  /**
   * Decodes and verifies a record, or throws the error openRecord names (INVALID_ARGUMENT,
   * PERMISSION_DENIED, RESOURCE_EXHAUSTED). `field` names it in the message.
   */
  open(blob: SignedRecordBlob | undefined, field: string): PeerRecord {
    if (blob && blob.signature.length > 0) {
      // Views, not copies: this runs for every record every peer call carries.
      const { signature } = blob;
      const key = Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64');
      const hit = this.verified.get(key);
      if (hit?.bytes.equals(blob.record)) return hit.record;
      const record = this.openFresh(blob, field);
      // A copy: the record's bytes are a view into the whole message that carried them.
      rememberNewest(this.verified, key, { bytes: ownedCopy(blob.record), record }, this.capacity);
      return record;
    }
    return this.openFresh(blob, field);
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

  private openFresh(blob: SignedRecordBlob | undefined, field: string): PeerRecord {
    let record: PeerRecord;
    try {
      record = openRecord(blob as SignedRecord | undefined);
    } catch (error) {
      (error as Error).message = `${field}: ${(error as Error).message}`;
      throw error;
    }
    if (record.network !== this.network) {
      throw new FailedPreconditionError(
        `${field} is for network "${record.network}", but this host is in network "${this.network}"`,
      );
    }
    return record;
  }
}
