import fc from 'fast-check';
import { BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from './backoff';

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`backoff: fast-check seed ${seed} (FC_SEED=${seed} replays)`);

const lowest = () => 0;
const highest = () => 0.999_999_999;

function capOf(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxMs, Math.floor(policy.initialMs * policy.multiplier ** attempt));
}

describe('backoffDelay', () => {
  const table: Array<[number, number, number]> = [
    // attempt, delay with random 0, delay with random near 1
    [0, 125, 250],
    [1, 250, 500],
    [2, 500, 1_000],
    [3, 1_000, 2_000],
    [6, 8_000, 16_000],
    [7, 15_000, 30_000],
    [8, 15_000, 30_000],
    [1_000, 15_000, 30_000],
  ];
  test.each(table)('with the default policy, attempt %i waits from %i to %i ms', (attempt, low, high) => {
    expect(backoffDelay(DEFAULT_BACKOFF, attempt, lowest)).toBe(low);
    expect(backoffDelay(DEFAULT_BACKOFF, attempt, highest)).toBe(high);
  });

  test('never waits 0 ms, even with a 1 ms cap and the lowest draw', () => {
    expect(backoffDelay({ initialMs: 1, maxMs: 1, multiplier: 1 }, 0, lowest)).toBe(1);
  });

  test('stays within the cap when the random source breaks its contract and returns 1', () => {
    expect(backoffDelay(DEFAULT_BACKOFF, 0, () => 1)).toBe(250);
  });

  test.each<[string, BackoffPolicy, number]>([
    ['initialMs of 0', { initialMs: 0, maxMs: 10, multiplier: 2 }, 0],
    ['fractional initialMs', { initialMs: 1.5, maxMs: 10, multiplier: 2 }, 0],
    ['maxMs below initialMs', { initialMs: 100, maxMs: 10, multiplier: 2 }, 0],
    ['multiplier below 1', { initialMs: 100, maxMs: 1_000, multiplier: 0.5 }, 0],
    ['infinite multiplier', { initialMs: 100, maxMs: 1_000, multiplier: Infinity }, 0],
    ['negative attempt', DEFAULT_BACKOFF, -1],
    ['fractional attempt', DEFAULT_BACKOFF, 1.5],
  ])('refuses %s with a RangeError', (_, policy, attempt) => {
    expect(() => backoffDelay(policy, attempt, lowest)).toThrow(RangeError);
  });

  const policies = fc
    .record({
      initialMs: fc.integer({ min: 1, max: 10_000 }),
      extraMs: fc.integer({ min: 0, max: 1_000_000 }),
      multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    })
    .map(({ initialMs, extraMs, multiplier }) => ({ initialMs, maxMs: initialMs + extraMs, multiplier }));
  const draws = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

  test('every delay is a whole number of ms between half the cap and the cap, and at most maxMs', () => {
    fc.assert(
      fc.property(policies, fc.integer({ min: 0, max: 2_000 }), draws, (policy, attempt, draw) => {
        const delay = backoffDelay(policy, attempt, () => draw);
        const cap = capOf(policy, attempt);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(cap / 2)));
        expect(delay).toBeLessThanOrEqual(cap);
        expect(delay).toBeLessThanOrEqual(policy.maxMs);
      }),
      { seed },
    );
  });

  test('for the same draw, a later attempt never waits less (the cap only rises, up to maxMs)', () => {
    fc.assert(
      fc.property(
        policies,
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 0, max: 200 }),
        draws,
        (policy, a, b, draw) => {
          const [earlier, later] = a <= b ? [a, b] : [b, a];
          expect(capOf(policy, earlier)).toBeLessThanOrEqual(capOf(policy, later));
          expect(backoffDelay(policy, earlier, () => draw)).toBeLessThanOrEqual(
            backoffDelay(policy, later, () => draw),
          );
        },
      ),
      { seed },
    );
  });
});
