/**
 * Watch responses, encoded once. The store hands the same ChangeEvent object to every watcher of
 * a network, so each event is encoded and framed once (cached by identity), and a response is a
 * plain concatenation of framed events: bytes exactly as WatchResponse.encode would write them.
 * Watchers that are level with each other send the same batch, which the fan-out encodes once
 * for all of them and keeps among its recent ones (watch-fanout.ts).
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { WatchEvent, WatchEvent_Type } from '../gen/grapevine/v1/directory';
import { concatOwned, wrapOwned } from '../common/owned-bytes';
import { ChangeEvent } from './store/store';

/** WatchResponse field numbers (directory.proto), as protobuf tags. */
const EVENTS_TAG = (1 << 3) | 2;
const REVISION_TAG = (2 << 3) | 0;

const framedEvents = new WeakMap<ChangeEvent, Buffer>();

export function toWatchEvent(event: ChangeEvent): WatchEvent {
  return {
    type: event.type === 'put' ? WatchEvent_Type.TYPE_PUT : WatchEvent_Type.TYPE_DELETE,
    revision: event.revision,
    peerId: event.peerId,
    record: event.signed,
    reason: event.reason ?? '',
  };
}

/** The event as one `events` entry of a WatchResponse: tag, length, message. */
function framedEvent(event: ChangeEvent): Buffer {
  let bytes = framedEvents.get(event);
  if (!bytes) {
    const message = WatchEvent.encode(toWatchEvent(event)).finish();
    // Kept as long as the event is: bytes of its own, not a slice of a shared pool slab.
    bytes = wrapOwned(new BinaryWriter().uint32(EVENTS_TAG).bytes(message).finish());
    framedEvents.set(event, bytes);
  }
  return bytes;
}

/** Bytes the event adds to a response that carries it. */
export function framedEventLength(event: ChangeEvent): number {
  return framedEvent(event).length;
}

function revisionField(revision: number): Buffer {
  return wrapOwned(new BinaryWriter().uint32(REVISION_TAG).uint64(revision).finish());
}

/** One encoded WatchResponse and what it carries, for the sent-events counters. */
export interface EncodedBatch {
  /** The message. */
  readonly bytes: Buffer;
  /** The message as a gRPC frame: its 5-byte prefix (not compressed, length) then `bytes`. */
  readonly framed: Buffer;
  readonly puts: number;
  readonly deletes: number;
  /** How many events it carries, and the revision it leaves the watcher at. */
  readonly count: number;
  readonly revision: number;
}

/** The gRPC length prefix of an uncompressed message. */
const FRAME_PREFIX_BYTES = 5;

/** A response with `events[from, to)` (at least one) and this revision. */
export function encodeWatchBatch(
  events: readonly ChangeEvent[],
  revision: number,
  from = 0,
  to = events.length,
): EncodedBatch {
  const count = to - from;
  const prefix = Buffer.alloc(FRAME_PREFIX_BYTES);
  const parts: Buffer[] = [prefix];
  let puts = 0;
  for (let i = from; i < to; i += 1) {
    parts.push(framedEvent(events[i]));
    if (events[i].type === 'put') puts += 1;
  }
  if (revision !== 0) parts.push(revisionField(revision));
  // The fan-out keeps recent batches: bytes of their own (owned-bytes.ts).
  const framed = concatOwned(parts);
  framed.writeUInt32BE(framed.length - FRAME_PREFIX_BYTES, 1);
  const bytes = framed.subarray(FRAME_PREFIX_BYTES);
  return { bytes, framed, puts, deletes: count - puts, count, revision };
}

export function encodeWatchResponse(events: readonly ChangeEvent[], revision: number): Buffer {
  if (events.length === 0) return revision === 0 ? Buffer.alloc(0) : revisionField(revision);
  return encodeWatchBatch(events, revision).bytes;
}
