import { MemberProbes, type ProbeVerdict } from './member-probes';

const timing = { intervalMs: 1_000, suspicionMs: 3_000 };

describe('MemberProbes', () => {
  test('spreads first probes over the interval by their random phase', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    probes.add('b', 0, 0.5);
    probes.add('c', 0, 0.999);
    expect(probes.takeDue(0)).toEqual(['a']);
    expect(probes.takeDue(499)).toEqual([]);
    expect(probes.takeDue(500)).toEqual(['b']);
    expect(probes.nextDueAt()).toBe(999);
  });

  test('probes each member once per interval, never twice at once', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    expect(probes.takeDue(0)).toEqual(['a']);
    expect(probes.takeDue(2_000)).toEqual([]);
    probes.settle('a', true, 300);
    expect(probes.takeDue(999)).toEqual([]);
    expect(probes.takeDue(1_000)).toEqual(['a']);
  });

  test('a probe late by more than an interval does not make the next one due at once', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    probes.takeDue(5_000);
    probes.settle('a', true, 5_100);
    expect(probes.takeDue(5_100)).toEqual([]);
    expect(probes.takeDue(6_000)).toEqual(['a']);
  });

  const table: [string, [boolean, number][], ProbeVerdict[]][] = [
    [
      'answers: alive each time',
      [
        [true, 0],
        [true, 1_000],
      ],
      ['alive', 'alive'],
    ],
    [
      'fails once, then answers: suspected, then recovered',
      [
        [false, 0],
        [true, 1_000],
      ],
      ['suspected', 'recovered'],
    ],
    [
      'fails for the whole suspicion time: dead on the failure that completes it',
      [
        [false, 1_000],
        [false, 2_000],
        [false, 3_000],
        [false, 4_000],
      ],
      ['suspected', 'still-suspected', 'still-suspected', 'dead'],
    ],
    [
      'recovers, then fails again: the suspicion starts over',
      [
        [false, 0],
        [true, 1_000],
        [false, 2_000],
        [false, 4_000],
        [false, 5_000],
      ],
      ['suspected', 'recovered', 'suspected', 'still-suspected', 'dead'],
    ],
  ];
  test.each(table)('%s', (_name, outcomes, verdicts) => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    expect(outcomes.map(([acked, at]) => probes.settle('a', acked, at))).toEqual(verdicts);
  });

  test('with no suspicion time, a first failure is a death', () => {
    const probes = new MemberProbes({ intervalMs: 1_000, suspicionMs: 0 });
    probes.add('a', 0, 0);
    expect(probes.settle('a', false, 0)).toBe('dead');
  });

  test('counts suspects, and forgets them when removed', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    probes.add('b', 0, 0);
    probes.settle('a', false, 0);
    probes.settle('b', false, 0);
    expect(probes.suspects).toBe(2);
    probes.settle('a', true, 1_000);
    probes.remove('b');
    expect(probes.suspects).toBe(0);
    expect(probes.settle('b', true, 1_000)).toBeUndefined();
  });

  test('a released probe gives no verdict and is due again next interval', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0);
    probes.settle('a', false, 0);
    expect(probes.takeDue(1_000)).toEqual(['a']);
    probes.release('a');
    expect(probes.suspects).toBe(1);
    expect(probes.takeDue(1_500)).toEqual([]);
    expect(probes.takeDue(2_000)).toEqual(['a']);
  });

  test('a rumour brings the next probe forward, unless one is running', () => {
    const probes = new MemberProbes(timing);
    probes.add('a', 0, 0.9);
    probes.expedite('a', 100);
    expect(probes.takeDue(100)).toEqual(['a']);
    probes.expedite('a', 200);
    expect(probes.takeDue(200)).toEqual([]);
  });
});
