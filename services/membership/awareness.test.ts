import { Awareness, failedProbeDelta } from './awareness';

describe('Awareness', () => {
  it('stays within [0, max] and reports only real changes', () => {
    const a = new Awareness(8);
    expect(a.apply(-1)).toBe(false);
    expect(a.apply(3)).toBe(true);
    expect(a.score).toBe(3);
    expect(a.apply(100)).toBe(true);
    expect(a.score).toBe(8);
    expect(a.apply(1)).toBe(false);
  });

  it.each([
    [0, 1_000, 1_000],
    [1, 1_000, 2_000],
    [8, 500, 4_500],
  ])('with score %i scales %i ms to %i ms', (score, ms, expected) => {
    const a = new Awareness(8);
    a.apply(score);
    expect(a.scale(ms)).toBe(expected);
  });
});

describe('failedProbeDelta', () => {
  it.each([
    [0, 0, 1],
    [3, 0, 3],
    [3, 2, 1],
    [3, 3, 0],
    [3, 5, 0],
  ])('expecting %i nacks and getting %i adds %i', (expected, got, delta) => {
    expect(failedProbeDelta(expected, got)).toBe(delta);
  });
});
