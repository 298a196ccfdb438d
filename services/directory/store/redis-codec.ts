/**
 * Reading what the Lua scripts (redis-scripts.ts) write: peer values and change-log entries.
 *
 * A peer is one string rather than a hash: its record is longer than the 64 bytes up to which
 * Redis keeps a small hash compact (hash-max-listpack-value), and a hash past that bound costs
 * about twice as much memory per peer. The header holds the few fields the scripts must read
 * without decoding protobuf; everything else is in the record, stored once.
 */
import { ownedCopy } from '../../common/owned-bytes';
import { PeerRecord } from '../../common/records';
import { ChangeEvent } from './store';

/** Everything a peer value holds; the lease id is `<network>.<leaseSecret>`. */
export interface DecodedPeer {
  readonly record: PeerRecord;
  readonly recordBytes: Buffer;
  readonly signature: Buffer;
  readonly deadlineMs: number;
  readonly ttlMs: number;
  readonly seq: number;
  readonly revision: number;
  readonly leaseSecret: string;
  readonly name: string;
}

const NEWLINE = 0x0a;
const HEADER = /^(\d+)\|(\d+)\|(\d+)\|(\d+)\|([^|]*)\|(\d+)\|(.*)$/;

/**
 * Decodes a peer value; throws when it is not one (a key written by something else). The record
 * is decoded when first read: Resolve and List answer with its signed bytes and never read it.
 */
export function decodePeer(value: Buffer): DecodedPeer {
  const newline = value.indexOf(NEWLINE);
  const header = newline < 0 ? undefined : HEADER.exec(value.subarray(0, newline).toString('latin1'));
  if (!header) throw new Error('a peer key holds something that is not a Grapevine peer value');
  const signatureLength = Number(header[6]);
  const body = value.subarray(newline + 1);
  const recordBytes = Buffer.from(body.subarray(0, body.length - signatureLength));
  let record: PeerRecord | undefined;
  return {
    get record() {
      return (record ??= PeerRecord.decode(recordBytes));
    },
    recordBytes,
    signature: Buffer.from(body.subarray(body.length - signatureLength)),
    deadlineMs: Number(header[1]),
    ttlMs: Number(header[2]),
    seq: Number(header[3]),
    revision: Number(header[4]),
    leaseSecret: header[5],
    name: header[7],
  };
}

/** Log entry kinds, one letter each to keep the log small. */
const KINDS: Record<string, Pick<ChangeEvent, 'type' | 'reason'>> = {
  p: { type: 'put' },
  d: { type: 'delete', reason: 'deregistered' },
  e: { type: 'delete', reason: 'expired' },
  v: { type: 'delete', reason: 'evicted' },
};

/** The revision an entry id `<revision>-0` stands for. */
export function revisionOfEntryId(id: Buffer | string): number {
  const text = id.toString();
  return Number(text.slice(0, text.indexOf('-')));
}

/** Decodes one stream entry (fields k, r, s) into a change event. */
export function decodeLogEntry(id: Buffer | string, fields: Buffer[]): ChangeEvent {
  const values = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i].toString(), fields[i + 1]);
  const kind = KINDS[values.get('k')?.toString() ?? ''];
  const record = values.get('r');
  const signature = values.get('s');
  if (!kind || !record || !signature)
    throw new Error(`change log entry ${id.toString()} is not a Grapevine change event`);
  // Events are kept for catch-ups and by the fan-out: copies of their own (owned-bytes.ts).
  const recordBytes = ownedCopy(record);
  const event: ChangeEvent = {
    ...kind,
    revision: revisionOfEntryId(id),
    peerId: PeerRecord.decode(recordBytes).peerId,
    signed: { record: recordBytes, signature: ownedCopy(signature) },
  };
  return event;
}
