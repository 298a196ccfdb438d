/**
 * Watch responses, encoded once. The store hands the same ChangeEvent object to every watcher of
 * a network, so each event is encoded once (cached by identity) and a response is the
 * concatenation of its events' bytes: the fan-out to a thousand watchers costs a thousand copies,
 * not a thousand protobuf encodings. The bytes are exactly what WatchResponse.encode would write.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { WatchEvent, WatchEvent_Type } from '../gen/grapevine/v1/directory';
import { ChangeEvent } from './store/store';

const encodedEvents = new WeakMap<ChangeEvent, Uint8Array>();

/** WatchResponse field numbers (directory.proto), as protobuf tags. */
const EVENTS_TAG = (1 << 3) | 2;
const REVISION_TAG = (2 << 3) | 0;

export function toWatchEvent(event: ChangeEvent): WatchEvent {
  return {
    type: event.type === 'put' ? WatchEvent_Type.TYPE_PUT : WatchEvent_Type.TYPE_DELETE,
    revision: event.revision,
    peerId: event.peerId,
    record: event.signed,
    reason: event.reason ?? '',
  };
}

function encodedEvent(event: ChangeEvent): Uint8Array {
  let bytes = encodedEvents.get(event);
  if (!bytes) {
    bytes = WatchEvent.encode(toWatchEvent(event)).finish();
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

export function encodeWatchResponse(events: readonly ChangeEvent[], revision: number): Buffer {
  const writer = new BinaryWriter();
  for (const event of events) writer.uint32(EVENTS_TAG).bytes(encodedEvent(event));
  if (revision !== 0) writer.uint32(REVISION_TAG).uint64(revision);
  return Buffer.from(writer.finish());
}
