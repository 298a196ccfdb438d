import { concatOwned, ownedCopy, wrapOwned } from './owned-bytes';

/** Whether a Buffer is the whole of its memory: nothing else is kept alive with it. */
const ownsItsMemory = (b: Buffer) => b.byteOffset === 0 && b.buffer.byteLength === b.length;

describe('owned bytes', () => {
  // A small Buffer.from copy lands in the shared pool slab: the case these helpers exist for.
  const pooled = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);

  test('a pooled copy shares a slab, which is what a cache must not keep', () => {
    expect(ownsItsMemory(pooled)).toBe(false);
  });

  test('ownedCopy: the same bytes in memory of their own, unaffected by the source', () => {
    const source = Buffer.from(pooled);
    const copy = ownedCopy(source.subarray(2, 6));
    expect([...copy]).toEqual([3, 4, 5, 6]);
    expect(ownsItsMemory(copy)).toBe(true);
    source[2] = 99;
    expect(copy[0]).toBe(3);
    expect(ownsItsMemory(ownedCopy(new Uint8Array(0)))).toBe(true);
  });

  test('wrapOwned: an encoder output as a Buffer, without copying it', () => {
    const out = new Uint8Array([9, 8, 7]);
    const wrapped = wrapOwned(out);
    expect(ownsItsMemory(wrapped)).toBe(true);
    out[0] = 1;
    expect(wrapped[0]).toBe(1);
  });

  test('concatOwned: what Buffer.concat gives, in memory of its own', () => {
    const parts = [Buffer.from([1]), new Uint8Array([2, 3]), Buffer.alloc(0), pooled.subarray(7)];
    const joined = concatOwned(parts);
    expect(joined.equals(Buffer.concat(parts))).toBe(true);
    expect(ownsItsMemory(joined)).toBe(true);
    expect(concatOwned([]).length).toBe(0);
  });
});
