/**
 * Records in the simulator: the core sees opaque signed blobs, as it does under the real
 * transport, but signing thousands of Ed25519 records and verifying millions of relays would
 * measure node:crypto, not the protocol. A simulated blob carries its parsed view next to a
 * one-byte "signature" that says whether it is genuine; the fake verifier checks that flag.
 */
import type { RecordVerifier, RecordView, SignedRecordBlob } from '../messages';

const GENUINE = new Uint8Array([1]);
const FORGED = new Uint8Array([0]);
const NO_BYTES = new Uint8Array(0);

export interface SimRecordBlob extends SignedRecordBlob {
  readonly view: RecordView;
}

export function simRecord(peerId: string, seq: number, addresses: readonly string[]): SimRecordBlob {
  return { record: NO_BYTES, signature: GENUINE, view: { peerId, seq, addresses } };
}

/** A record whose signature does not verify (a forgery, or bytes changed in transit). */
export function forgedSimRecord(peerId: string, seq: number, addresses: readonly string[]): SimRecordBlob {
  return { record: NO_BYTES, signature: FORGED, view: { peerId, seq, addresses } };
}

export const verifySimRecord: RecordVerifier = (blob) => {
  const view = (blob as Partial<SimRecordBlob>).view;
  return view !== undefined && blob.signature === GENUINE ? view : undefined;
};
