/**
 * Bytes that are kept for long (caches of records, events, encoded messages) must own their
 * memory. `Buffer.from(bytes)` and `Buffer.concat` place a small result in a shared 8 KiB pool
 * slab, and a view (`subarray`, a decoded protobuf `bytes` field) shares its parent's memory: one
 * 300-byte record kept in a cache then keeps a whole slab or a whole received message alive.
 * Seen in the directory under load: its kept change events pinned about a thousand slabs, 7.8
 * MiB outside the heap, for a few hundred bytes kept from each.
 */

/** A copy of `bytes` in memory of its own, sized to fit. */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}

/**
 * A Buffer over an encoder's output without copying it: an encoder's `finish()` returns a fresh
 * array of exactly its length, which is already memory of its own.
 */
export function wrapOwned(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Concatenates `parts` into one Buffer of its own (Buffer.concat pools small results). */
export function concatOwned(parts: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
