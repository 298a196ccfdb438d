import { remainingSuspicionTime, suspicionTimeout } from './suspicion';

describe('remainingSuspicionTime', () => {
  // The table follows memberlist's TestSuspicion_remainingSuspicionTime, in milliseconds.
  const table: Array<[number, number, number, number, number, number]> = [
    // confirmations, wanted, elapsed, min, max, expected
    [0, 3, 0, 2_000, 30_000, 30_000],
    [1, 3, 2_000, 2_000, 30_000, 14_000],
    [2, 3, 3_000, 2_000, 30_000, 4_810],
    [3, 3, 4_000, 2_000, 30_000, -2_000],
    [4, 3, 5_000, 2_000, 30_000, -3_000],
    [5, 3, 10_000, 2_000, 30_000, -8_000],
  ];
  it.each(table)('C=%i of K=%i after %i ms within [%i, %i] leaves %i ms', (c, k, elapsed, min, max, expected) => {
    expect(remainingSuspicionTime(c, k, elapsed, min, max)).toBe(expected);
  });

  it('waits the minimum when no confirmations are wanted', () => {
    expect(suspicionTimeout(0, 0, 4_000, 16_000)).toBe(4_000);
  });

  it('never goes below the minimum and only shrinks as confirmations arrive', () => {
    let previous = Infinity;
    for (let c = 0; c <= 6; c++) {
      const t = suspicionTimeout(c, 4, 3_000, 12_000);
      expect(t).toBeGreaterThanOrEqual(3_000);
      expect(t).toBeLessThanOrEqual(previous);
      previous = t;
    }
  });
});
