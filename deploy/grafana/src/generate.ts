/**
 * `make dashboards`: writes every dashboard's JSON to deploy/grafana/. With --check it writes
 * nothing and exits 1 when a file differs from what the code generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS, dashboardJson } from './dashboards';

const OUT_DIR = join(__dirname, '..');

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function main(check: boolean): number {
  const stale: string[] = [];
  for (const { file, build } of DASHBOARDS) {
    const path = join(OUT_DIR, file);
    const text = dashboardJson(build());
    if (read(path) === text) continue;
    stale.push(file);
    if (!check) writeFileSync(path, text);
  }
  if (check && stale.length > 0) {
    process.stderr.write(`out of date (run make dashboards): ${stale.join(', ')}\n`);
    return 1;
  }
  process.stdout.write(
    check
      ? `${DASHBOARDS.length} dashboards up to date\n`
      : `wrote ${stale.length} of ${DASHBOARDS.length} dashboards\n`,
  );
  return 0;
}

process.exitCode = main(process.argv.includes('--check'));
