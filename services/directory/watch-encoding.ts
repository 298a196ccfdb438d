/**
 * Watch responses, encoded once. The store hands the same ChangeEvent object to every watcher of
 * a network, so each event is encoded and framed once (cached by identity), and a response is a
 * plain concatenation of framed events: bytes exactly as WatchResponse.encode would write them.
 * Watchers flush on shared ticks (see handlers/watch.ts), so watchers that are level with each
 * other send the same batch, and `encodeWatchResponse` hands them one shared buffer.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { WatchEvent, WatchEvent_Type } from '../gen/grapevine/v1/directory';
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
    bytes = Buffer.from(new BinaryWriter().uint32(EVENTS_TAG).bytes(message).finish());
    framedEvents.set(event, bytes);
  }
  return bytes;
}

function revisionField(revision: number): Buffer {
  return Buffer.from(new BinaryWriter().uint32(REVISION_TAG).uint64(revision).finish());
}

/**
 * The last batch encoded: level watchers flushing on the same tick ask for the same batch, which
 * is recognised by its first event object and its revision, and get the same buffer.
 */
let lastBatch: { first: ChangeEvent; count: number; revision: number; bytes: Buffer } | undefined;

export function encodeWatchResponse(events: readonly ChangeEvent[], revision: number): Buffer {
  if (events.length === 0) return revision === 0 ? Buffer.alloc(0) : revisionField(revision);
  if (
    lastBatch &&
    lastBatch.first === events[0] &&
    lastBatch.count === events.length &&
    lastBatch.revision === revision
  ) {
    return lastBatch.bytes;
  }
  const parts = events.map(framedEvent);
  if (revision !== 0) parts.push(revisionField(revision));
  const bytes = Buffer.concat(parts);
  lastBatch = { first: events[0], count: events.length, revision, bytes };
  return bytes;
}
