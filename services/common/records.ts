/**
 * Signed peer records: the one place that builds, signs, opens and checks them. Every service
 * calls `openRecord` on every record it is given, so the rules are the same everywhere.
 *
 * A record is signed over its exact serialized bytes with a domain-separation prefix, so a relayed
 * record verifies without re-encoding, and a signature made for something else never passes as a
 * record signature.
 */
import { isIP } from 'node:net';
import { PeerRecord, SignedRecord } from '../gen/grapevine/v1/record';
import { InvalidArgumentError, PermissionDeniedError, ResourceExhaustedError } from './errors';
import { Identity, signBytes, verifyBytes, isPeerId } from './identity';
import { dnsLabelProblem, isDnsLabel } from './labels';
import {
  MAX_ADDRESSES,
  MAX_ADDRESS_LENGTH,
  MAX_LABELS,
  MAX_LABEL_KEY_LENGTH,
  MAX_LABEL_VALUE_LENGTH,
  MAX_RECORD_BYTES,
} from './limits';

export { PeerRecord, SignedRecord };

export const RECORD_SIGNATURE_DOMAIN = Buffer.from('grapevine/v1/peer-record\x00', 'utf8');

export type RecordFields = Omit<PeerRecord, 'peerId'>;

function signingInput(recordBytes: Uint8Array): Buffer {
  return Buffer.concat([RECORD_SIGNATURE_DOMAIN, recordBytes]);
}

/** Builds, checks and signs a record for `identity`. Throws InvalidArgumentError on a bad field. */
export function signRecord(identity: Identity, fields: RecordFields): SignedRecord {
  return signRecordKeeping(identity, fields).signed;
}

/** signRecord, also returning the record it signed, for a signer that keeps both (a host). */
export function signRecordKeeping(
  identity: Identity,
  fields: RecordFields,
): { readonly signed: SignedRecord; readonly record: PeerRecord } {
  const record: PeerRecord = { ...fields, peerId: identity.peerId };
  checkRecordFields(record);
  const bytes = Buffer.from(PeerRecord.encode(record).finish());
  if (bytes.length > MAX_RECORD_BYTES) {
    throw new ResourceExhaustedError(`record is ${bytes.length} bytes; at most ${MAX_RECORD_BYTES} are allowed`);
  }
  return { signed: { record: bytes, signature: signBytes(identity, signingInput(bytes)) }, record };
}

/**
 * Decodes, checks and verifies a signed record; returns the record it carries.
 * Throws InvalidArgumentError (malformed), ResourceExhaustedError (too big) or
 * PermissionDeniedError (the signature does not verify for the record's peer id).
 */
export function openRecord(signed: SignedRecord | undefined): PeerRecord {
  if (!signed || signed.record.length === 0) throw new InvalidArgumentError('record is missing');
  if (signed.record.length > MAX_RECORD_BYTES) {
    throw new ResourceExhaustedError(
      `record is ${signed.record.length} bytes; at most ${MAX_RECORD_BYTES} are allowed`,
    );
  }
  let record: PeerRecord;
  try {
    record = PeerRecord.decode(signed.record);
  } catch (error) {
    throw new InvalidArgumentError(`record bytes are not a PeerRecord: ${(error as Error).message}`);
  }
  checkRecordFields(record);
  if (!verifyBytes(record.peerId, signingInput(signed.record), signed.signature)) {
    throw new PermissionDeniedError(
      `signature does not verify for peer ${record.peerId}: the record was not signed by that peer's key, or was changed after signing`,
    );
  }
  return record;
}

/**
 * Throws naming the first field that breaks the rules: ResourceExhaustedError when a count is
 * past its bound (addresses, labels), InvalidArgumentError for anything malformed.
 */
export function checkRecordFields(record: PeerRecord): void {
  if (record.addresses.length > MAX_ADDRESSES) {
    throw new ResourceExhaustedError(
      `record has ${record.addresses.length} addresses; at most ${MAX_ADDRESSES} are allowed`,
    );
  }
  if (Object.keys(record.labels).length > MAX_LABELS) {
    throw new ResourceExhaustedError(
      `record has ${Object.keys(record.labels).length} labels; at most ${MAX_LABELS} are allowed`,
    );
  }
  const problem = recordProblem(record);
  if (problem) throw new InvalidArgumentError(problem);
}

function recordProblem(record: PeerRecord): string | undefined {
  if (!isPeerId(record.peerId)) {
    return `peer id ${JSON.stringify(record.peerId.slice(0, 80))} is not a Grapevine peer id ("b" and 52 base32 characters of an Ed25519 key)`;
  }
  const networkProblem = dnsLabelProblem('network', record.network);
  if (networkProblem) return networkProblem;
  if (record.name !== '' && !isDnsLabel(record.name)) return dnsLabelProblem('name', record.name);
  if (!Number.isSafeInteger(record.seq) || record.seq < 1)
    return `seq must be a whole number from 1, got ${record.seq}`;
  if (!Number.isSafeInteger(record.issuedAtMs) || record.issuedAtMs < 0) {
    return `issued_at_ms must be a non-negative whole number, got ${record.issuedAtMs}`;
  }
  if (!record.withdrawn && record.addresses.length === 0) return 'a record must carry at least one address';
  for (const address of record.addresses) {
    const addressProblem = hostPortProblem(address);
    if (addressProblem) return addressProblem;
  }
  const labels = Object.entries(record.labels);
  for (const [key, value] of labels) {
    if (!LABEL_KEY.test(key) || key.length > MAX_LABEL_KEY_LENGTH) {
      return `label key ${JSON.stringify(key.slice(0, 80))} must be 1-${MAX_LABEL_KEY_LENGTH} characters of a-z, A-Z, 0-9, '.', '_', '-', '/' starting and ending with a letter or digit`;
    }
    if (!LABEL_VALUE.test(value) || value.length > MAX_LABEL_VALUE_LENGTH) {
      return `label ${key} value ${JSON.stringify(value.slice(0, 80))} must be 0-${MAX_LABEL_VALUE_LENGTH} characters of a-z, A-Z, 0-9, '.', '_', '-' starting and ending with a letter or digit`;
    }
  }
  return undefined;
}

const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)?$/;

/** Splits "host:port" or "[v6]:port"; undefined when malformed. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  if (match[2] !== undefined && isIP(host) !== 4 && !isHostName(host)) return undefined;
  return { host, port };
}

function isHostName(host: string): boolean {
  return host.length <= 253 && host.split('.').every((part) => isDnsLabel(part.toLowerCase()));
}

function hostPortProblem(address: string): string | undefined {
  if (address.length > MAX_ADDRESS_LENGTH || !parseHostPort(address)) {
    return `address ${JSON.stringify(address.slice(0, 80))} is not "host:port" (an IPv4 address, [IPv6] or DNS name, and a port 1-65535)`;
  }
  return undefined;
}
