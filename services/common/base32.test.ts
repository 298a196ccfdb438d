import fc from 'fast-check';
import { decodeBase32, encodeBase32 } from './base32';

describe('base32', () => {
  test.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('encodes %j as the RFC 4648 vector %j (lowercase, unpadded)', (text, encoded) => {
    expect(encodeBase32(Buffer.from(text))).toBe(encoded);
    expect(decodeBase32(encoded)?.toString()).toBe(text);
  });

  test('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decodeBase32(encodeBase32(bytes))).toEqual(Buffer.from(bytes));
      }),
    );
  });

  test.each(['MY', 'm1', 'mz=', 'mz', 'a'])('refuses non-canonical text %j', (text) => {
    expect(decodeBase32(text)).toBeUndefined();
  });
});
