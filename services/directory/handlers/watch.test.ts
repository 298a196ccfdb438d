import { streamLifetimeMs } from './watch';

describe('streamLifetimeMs', () => {
  test('draws between half the limit and all of it', () => {
    expect(streamLifetimeMs(1_000, () => 0)).toBe(1_000);
    expect(streamLifetimeMs(1_000, () => 0.999_999)).toBe(501);
    for (let i = 0; i < 100; i++) {
      const ms = streamLifetimeMs(60_000, Math.random);
      expect(ms).toBeGreaterThan(30_000);
      expect(ms).toBeLessThanOrEqual(60_000);
    }
  });

  test('0 means streams live as long as their clients like', () => {
    expect(streamLifetimeMs(0, () => 0.5)).toBe(0);
  });
});
