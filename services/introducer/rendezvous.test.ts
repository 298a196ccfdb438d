import { rendezvousOwner } from './rendezvous';

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('rendezvousOwner', () => {
  test.each([
    ['no introducer', [], undefined],
    ['only the member itself', ['m'], undefined],
  ])('is undefined with %s', (_what, introducers, expected) => {
    expect(rendezvousOwner('m', introducers)).toBe(expected);
  });

  test('never picks the member itself', () => {
    for (const member of ids('i', 20)) expect(rendezvousOwner(member, ids('i', 20))).not.toBe(member);
  });

  test('does not depend on the order of the introducers', () => {
    const introducers = ids('i', 5);
    for (const member of ids('m', 200)) {
      expect(rendezvousOwner(member, [...introducers].reverse())).toBe(rendezvousOwner(member, introducers));
    }
  });

  test('spreads members about evenly over three introducers', () => {
    const introducers = ids('i', 3);
    const counts = new Map<string, number>();
    for (const member of ids('member-', 3_000)) {
      const owner = rendezvousOwner(member, introducers)!;
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const introducer of introducers) {
      expect(counts.get(introducer)).toBeGreaterThan(850);
      expect(counts.get(introducer)).toBeLessThan(1_150);
    }
  });

  test('moves only the members of an introducer that left', () => {
    const before = ids('i', 4);
    const after = before.filter((id) => id !== 'i2');
    for (const member of ids('m', 1_000)) {
      const was = rendezvousOwner(member, before);
      const now = rendezvousOwner(member, after);
      if (was !== 'i2') expect(now).toBe(was);
      else expect(now).not.toBe('i2');
    }
  });
});
