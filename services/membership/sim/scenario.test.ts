import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_SCENARIOS, builtinScenario, parseScenario } from './scenario';

const SCENARIO_FILES = join(__dirname, '..', '..', '..', 'docs', 'scenarios');

describe('scenarios', () => {
  it.each(Object.keys(BUILTIN_SCENARIOS))('built-in %s parses and ends after its last event', (name) => {
    const s = builtinScenario(name, { nodes: 500 });
    expect(s.nodes).toBe(500);
    for (const e of s.events) expect(e.atS).toBeLessThan(s.durationS);
  });

  it.each(readdirSync(SCENARIO_FILES))('the documented file %s parses and ends after its last event', (file) => {
    const s = parseScenario(JSON.parse(readFileSync(join(SCENARIO_FILES, file), 'utf8')));
    expect(s.events.length).toBeGreaterThan(0);
    for (const e of s.events) expect(e.atS).toBeLessThan(s.durationS);
  });

  it('fills defaults for a minimal scenario', () => {
    const s = parseScenario({ name: 'tiny', nodes: 10, durationS: 30 });
    expect(s.profile).toBe('lan');
    expect(s.network.lossRate).toBe(0);
    expect(s.events).toEqual([]);
  });

  it.each([
    [{ name: 'x', nodes: 0, durationS: 1 }, 'nodes'],
    [{ name: 'x', nodes: 10, durationS: 1, events: [{ kind: 'explode', atS: 1 }] }, 'events.0'],
    [{ name: 'x', nodes: 10, durationS: 1, network: { lossRate: 2 } }, 'network.lossRate'],
    [{ name: 'x', nodes: 10, durationS: 1, typo: true }, 'typo'],
  ])('rejects %j with a ScenarioError naming %s', (input, where) => {
    expect(() => parseScenario(input)).toThrow(
      expect.objectContaining({ name: 'ScenarioError', message: expect.stringContaining(where) }),
    );
  });

  it('refuses an unknown built-in, listing the known ones', () => {
    expect(() => builtinScenario('nope')).toThrow(/stable/);
  });
});
