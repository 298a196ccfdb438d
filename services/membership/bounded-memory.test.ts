import { rememberNewest } from './bounded-memory';

describe('rememberNewest', () => {
  it('keeps the newest entries up to its capacity, forgetting the oldest first', () => {
    const memory = new Map<string, number>();
    rememberNewest(memory, 'a', 1, 2);
    rememberNewest(memory, 'b', 2, 2);
    // Writing 'a' again makes it the newest, so 'b' is the oldest when 'c' comes.
    rememberNewest(memory, 'a', 3, 2);
    rememberNewest(memory, 'c', 4, 2);
    expect([...memory]).toEqual([
      ['a', 3],
      ['c', 4],
    ]);
  });
});
