import { FloodCache } from './flood-cache';

describe('FloodCache', () => {
  it('reports a duplicate while the id is remembered', () => {
    const c = new FloodCache(16);
    expect(c.add('x')).toBe(true);
    expect(c.add('x')).toBe(false);
  });

  it('forgets the oldest ids past its capacity and never grows beyond it', () => {
    const c = new FloodCache(16);
    for (let i = 0; i < 40; i++) c.add(`m${i}`);
    expect(c.size).toBe(16);
    expect(c.has('m0')).toBe(false);
    expect(c.has('m39')).toBe(true);
    expect(c.has('m24')).toBe(true);
    expect(c.has('m23')).toBe(false);
  });
});
