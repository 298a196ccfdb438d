import {
  activeViewSizeFor,
  defaultConfig,
  lanConfig,
  localConfig,
  makeConfig,
  MembershipConfigError,
  retransmitLimit,
  wanConfig,
} from './config';

describe('activeViewSizeFor', () => {
  it.each([
    [1, 4],
    [100, 4],
    [1_000, 4],
    [10_000, 5],
    [100_000, 6],
    [10_000_000, 8],
    [1_000_000_000, 8],
  ])('%i expected peers → %i active peers', (n, size) => {
    expect(activeViewSizeFor(n)).toBe(size);
  });
});

describe('defaultConfig', () => {
  it('sets every field, derives the views from the expected size, and is frozen', () => {
    const c = defaultConfig();
    expect(c.expectedPeers).toBe(10_000);
    expect(c.activeViewSize).toBe(5);
    expect(c.passiveViewSize).toBe(30);
    expect(c.probeIntervalMs).toBe(1_000);
    expect(c.lifeguard).toBe(true);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.values(c).every((v) => v !== undefined)).toBe(true);
  });

  it('re-derives view sizes when only the expected size changes', () => {
    const c = defaultConfig({ expectedPeers: 1_000_000 });
    expect(c.activeViewSize).toBe(7);
    expect(c.passiveViewSize).toBe(42);
  });

  it('keeps view sizes given explicitly', () => {
    expect(defaultConfig({ expectedPeers: 1_000_000, activeViewSize: 6 }).activeViewSize).toBe(6);
  });

  it('derives the retransmit limit from the expected size', () => {
    expect(retransmitLimit(defaultConfig())).toBe(3 * 5);
    expect(retransmitLimit(defaultConfig({ expectedPeers: 99 }))).toBe(3 * 2);
  });
});

describe('profiles', () => {
  it('start from the defaults and override a few fields', () => {
    const lan = lanConfig();
    const wan = wanConfig();
    const local = localConfig();
    expect(lan).toEqual(defaultConfig());
    expect(wan.probeIntervalMs).toBe(5_000);
    expect(wan.activeViewSize).toBe(lan.activeViewSize);
    expect(local.probeTimeoutMs).toBe(200);
    expect(local.expectedPeers).toBe(100);
    expect(local.activeViewSize).toBe(4);
  });

  it('take overrides on top of the profile', () => {
    expect(wanConfig({ probeTimeoutMs: 2_000 }).probeTimeoutMs).toBe(2_000);
  });
});

describe('validation', () => {
  const problems = (f: () => unknown): string[] => {
    try {
      f();
    } catch (error) {
      expect((error as Error).name).toBe('MembershipConfigError');
      return [...(error as MembershipConfigError).problems];
    }
    throw new Error('expected a MembershipConfigError');
  };

  it.each([
    [{ probeIntervalMs: 5 }, 'probeIntervalMs'],
    [{ activeViewSize: 1 }, 'activeViewSize'],
    [{ probeTimeoutMs: 1_000 }, 'probeTimeoutMs (1000) must be below probeIntervalMs (1000)'],
    [{ suspicionMinMs: 20_000 }, 'suspicionMaxMs (16000) must be at least suspicionMinMs (20000)'],
    [{ passiveViewSize: 3 }, 'passiveViewSize (3) must be at least activeViewSize (5)'],
    [
      { passiveRandomWalkLengthHops: 6 },
      'passiveRandomWalkLengthHops (6) must be below activeRandomWalkLengthHops (6)',
    ],
  ])('rejects %j, naming the problem', (overrides, text) => {
    expect(problems(() => makeConfig(overrides)).join('; ')).toContain(text);
  });

  it('rejects unknown fields rather than ignoring them', () => {
    expect(problems(() => makeConfig({ probeIntervalMS: 10 } as never)).join(' ')).toMatch(/probeIntervalMS/);
  });
});
