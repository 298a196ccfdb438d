/**
 * `grapevine sim <scenario>`: runs the membership protocol over a simulated network of thousands
 * of peers and writes a report (figures as JSON, an HTML page with plots). The scenario is a
 * built-in name or a JSON file of the same shape (services/membership/sim/scenario.ts).
 */
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BUILTIN_SCENARIOS,
  builtinScenario,
  parseScenario,
  renderReportSvg,
  reportHtml,
  reportJson,
  runScenario,
  type Scenario,
} from '../../membership/sim';

interface ProgressBar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

interface CliProgress {
  SingleBar: new (options: Record<string, unknown>, preset?: unknown) => ProgressBar;
  Presets: { shades_classic: unknown };
}

const whole = (name: string, min: number) => (text: string) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number from ${min}`);
  return n;
};

/** A built-in scenario by name, or a JSON scenario file; --nodes overrides the size of either. */
export function loadScenario(nameOrPath: string, nodes?: number): Scenario {
  if (Object.hasOwn(BUILTIN_SCENARIOS, nameOrPath)) return builtinScenario(nameOrPath, { nodes });
  if (!existsSync(nameOrPath)) {
    throw new Error(
      `no built-in scenario or file "${nameOrPath}"; built-in scenarios: ${Object.keys(BUILTIN_SCENARIOS).join(', ')}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(nameOrPath, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read scenario ${nameOrPath}: ${(error as Error).message}`);
  }
  const scenario = parseScenario(data);
  return nodes === undefined ? scenario : parseScenario({ ...scenario, nodes });
}

export function simCommand(): Command {
  return new Command('sim')
    .description(
      `simulate the membership protocol over thousands of peers and write a report (built-in scenarios: ${Object.keys(BUILTIN_SCENARIOS).join(', ')}; or a JSON scenario file)`,
    )
    .argument('<scenario>', 'a built-in scenario name or a JSON scenario file')
    .option('--seed <n>', 'random seed: the same seed gives the same run', whole('--seed', 0), 1)
    .option('--nodes <n>', 'override the number of nodes', whole('--nodes', 1))
    .option(
      '--out <dir>',
      'directory for report.json, report.html and report.svg (default .grapevine/sim/<scenario>-seed<n>)',
    )
    .action(async (name: string, options: { seed: number; nodes?: number; out?: string }) => {
      const scenario = loadScenario(name, options.nodes);
      const out = resolve(options.out ?? `.grapevine/sim/${scenario.name}-seed${options.seed}`);
      const bar = process.stderr.isTTY ? progressBar() : undefined;
      bar?.start(Math.round(scenario.durationS), 0, { scenario: scenario.name });
      const outcome = await runScenario(scenario, options.seed, {
        clock: () => performance.now(),
        onProgress: (doneMs) => bar?.update(Math.round(doneMs / 1_000)),
        pause: () => new Promise((done) => setImmediate(done)),
      });
      bar?.stop();
      const json = reportJson(outcome.result, { wallS: outcome.wallS });
      const svg = await renderReportSvg(outcome.result);
      mkdirSync(out, { recursive: true });
      writeFileSync(`${out}/report.json`, `${JSON.stringify(json, null, 2)}\n`);
      writeFileSync(`${out}/report.svg`, svg);
      writeFileSync(`${out}/report.html`, reportHtml(json, svg));
      process.stdout.write(`${summary(json)}\nreport: ${out}/report.html (figures in ${out}/report.json)\n`);
    });
}

function progressBar(): ProgressBar {
  // cli-progress ships no type declarations; the shape used here is declared above.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cliProgress = require('cli-progress') as CliProgress;
  return new cliProgress.SingleBar(
    {
      format: '{scenario} [{bar}] {value}/{total} simulated s | {eta_formatted} left',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
}

function summary(json: ReturnType<typeof reportJson>): string {
  const f = json.figures;
  const lines = [
    `${json.scenario}: ${json.nodes} nodes, seed ${json.seed}, ${json.simulatedS.toFixed(0)} simulated s in ${json.wallS.toFixed(1)} s (${json.simSecondsPerWallSecond.toFixed(1)}x)`,
  ];
  if (f.detection) {
    lines.push(
      `  crash detection: p50 ${f.detection.p50S.toFixed(2)} s, p99 ${f.detection.p99S.toFixed(2)} s, undetected ${f.detection.undetected}/${f.detection.crashed}`,
    );
  }
  lines.push(
    `  false deaths (live peers declared dead): ${f.falseDeaths}, ${f.falseDeathsPer1kNodeHours.toFixed(4)} per 1,000 node-hours (${f.staleDeaths} after the peer had refuted)`,
  );
  for (const c of f.components)
    lines.push(`  largest component at ${c.tS.toFixed(0)} s: ${(c.fraction * 100).toFixed(2)}% of ${c.liveNodes}`);
  if (f.floods)
    lines.push(
      `  floods: reach min ${(f.floods.reachMin * 100).toFixed(2)}%, duplicates/peer/message ${f.floods.dupPerPeerPerMsg.toFixed(2)}`,
    );
  lines.push(
    `  traffic: ${f.traffic.bytesPerNodePerS.toFixed(0)} B/s per node; views: active ${f.views.activeMean.toFixed(2)}, passive ${f.views.passiveMean.toFixed(2)}`,
  );
  return lines.join('\n');
}
