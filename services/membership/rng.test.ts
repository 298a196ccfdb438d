import { createRng, sample, shuffled } from './rng';

describe('Sfc32', () => {
  it('replays the same stream for the same seed, and another for another seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const draw = (r: typeof a) => Array.from({ length: 5 }, () => r.nextUint32());
    const first = draw(a);
    expect(draw(b)).toEqual(first);
    expect(draw(c)).not.toEqual(first);
  });

  it('draws floats in [0, 1) and integers in [0, bound)', () => {
    const r = createRng(7);
    for (let i = 0; i < 10_000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
      const k = r.int(5);
      expect(Number.isInteger(k) && k >= 0 && k < 5).toBe(true);
    }
  });

  it('forks independent streams deterministically', () => {
    const a = createRng(1).fork();
    const b = createRng(1).fork();
    expect(a.nextUint32()).toBe(b.nextUint32());
  });
});

describe('sample', () => {
  it.each([
    [30, 3],
    [30, 20],
    [5, 5],
    [5, 9],
    [5, 0],
  ])('takes min(count, n) distinct items of %i asked %i', (n, count) => {
    const items = Array.from({ length: n }, (_, i) => i);
    const picked = sample(createRng(n * 100 + count), items, count);
    expect(picked).toHaveLength(Math.min(n, count));
    expect(new Set(picked).size).toBe(picked.length);
    expect(items).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('shuffles into a permutation', () => {
    const out = shuffled(createRng(3), [1, 2, 3, 4, 5]);
    expect([...out].sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
