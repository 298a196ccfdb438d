/**
 * `grapevine sim` end to end, in a child process (the report renderer loads Vega, an ES module):
 * a scenario file in, report.json / report.html / report.svg out, and the path printed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const runner = `
const { simCommand } = require(${JSON.stringify(join(root, 'services/cli/commands/sim.ts'))});
simCommand().parseAsync(JSON.parse(process.env.SIM_ARGS), { from: 'user' }).catch((e) => { process.stderr.write(String(e.message) + '\\n'); process.exit(1); });
`;

describe('grapevine sim', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'grapevine-sim-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const sim = (...args: string[]) =>
    execFileSync(process.execPath, ['--import', 'tsx', '-e', runner], {
      cwd: root,
      env: { ...process.env, SIM_ARGS: JSON.stringify(args) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });

  it('runs a scenario file, writes the report and says where it went', () => {
    const scenario = join(dir, 'tiny.json');
    writeFileSync(
      scenario,
      JSON.stringify({
        name: 'tiny',
        nodes: 40,
        durationS: 40,
        joinRatePerS: 40,
        events: [
          { kind: 'crash', atS: 15, count: 2 },
          { kind: 'flood', atS: 35 },
        ],
      }),
    );
    const out = join(dir, 'out');
    const printed = sim(scenario, '--seed', '3', '--out', out);
    expect(printed).toContain(`report: ${out}/report.html`);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json).toMatchObject({ scenario: 'tiny', nodes: 40, seed: 3 });
    expect(json.figures.detection.crashed).toBe(2);
    expect(readFileSync(join(out, 'report.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('explains an unknown scenario', () => {
    expect(() => sim('no-such-scenario')).toThrow(/built-in scenarios: stable/);
  });
});
