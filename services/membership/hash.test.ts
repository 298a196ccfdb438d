import { hash53 } from './hash';

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('hash53', () => {
  test('is a whole number below 2^53 and differs for near strings', () => {
    const values = ids('x', 1_000).map(hash53);
    for (const v of values) {
      expect(Number.isSafeInteger(v)).toBe(true);
      expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(new Set(values).size).toBe(values.length);
  });
});
