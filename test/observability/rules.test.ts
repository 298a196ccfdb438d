/**
 * The Prometheus config and rules in deploy/prometheus/: promtool accepts them, its unit tests
 * pass, every alert is shown firing and staying quiet there, and every alert says what is wrong
 * and links to its section of docs/runbook.md.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { devCommand } from '../../services/cli/commands/dev';
import { PROMETHEUS_DIR, readRules, ROOT, ruleFiles } from './dashboard-queries';
import { PROMTOOL_BINARY } from './prometheus-server';

const TESTS_DIR = join(PROMETHEUS_DIR, 'tests');
const testFiles = () =>
  readdirSync(TESTS_DIR)
    .filter((file) => file.endsWith('.yml'))
    .map((file) => join(TESTS_DIR, file));

function promtool(args: string[]): { code: number | null; output: string } {
  const result = spawnSync(PROMTOOL_BINARY, args, { cwd: PROMETHEUS_DIR, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

const alerts = readRules().filter((rule) => rule.kind === 'alert');

test('promtool accepts the rule files', () => {
  const result = promtool(['check', 'rules', ...ruleFiles()]);
  expect(result.output).toMatch(/SUCCESS/);
  expect(result.code).toBe(0);
});

test('promtool accepts prometheus.yml and the rule files it loads', () => {
  const result = promtool(['check', 'config', join(PROMETHEUS_DIR, 'prometheus.yml')]);
  expect(result.output).toContain(`SUCCESS: ${ruleFiles().length} rule files found`);
  expect(result.code).toBe(0);
});

test("prometheus.yml scrapes grapevine dev's default /metrics ports, each with its role", () => {
  const defaults = Object.fromEntries(devCommand().options.map((o) => [o.attributeName(), o.defaultValue]));
  const config = parse(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { static_configs: { targets: string[]; labels: { role: string } }[] }[];
  };
  expect(config.scrape_configs[0]!.static_configs).toEqual([
    { targets: [`127.0.0.1:${defaults.metricsPort}`], labels: { role: 'directory' } },
    { targets: [`127.0.0.1:${defaults.introducerMetricsPort}`], labels: { role: 'introducer' } },
    { targets: (defaults.hostMetricsPorts as number[]).map((port) => `127.0.0.1:${port}`), labels: { role: 'host' } },
  ]);
});

test("promtool's unit tests of the rules pass", () => {
  const result = promtool(['test', 'rules', ...testFiles()]);
  expect(result.output).not.toContain('FAILED');
  expect(result.code).toBe(0);
});

test('there are alerts for each thing the issue asks about', () => {
  expect(alerts.map((alert) => alert.name).sort()).toEqual(
    [
      'GrapevineDeathRateSpike',
      'GrapevineDirectoryErrorRatioHigh',
      'GrapevineDirectoryLatencyHigh',
      'GrapevineHostFlapping',
      'GrapevineHostIsolated',
      'GrapevineInstanceDown',
      'GrapevineNoJoins',
      'GrapevineRedisUnavailable',
      'GrapevineRoleDown',
    ].sort(),
  );
});

interface AlertRuleTest {
  alertname: string;
  exp_alerts?: unknown[];
}

describe.each(alerts.map((alert) => [alert.name, alert] as const))('alert %s', (name, alert) => {
  const cases: AlertRuleTest[] = testFiles().flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as { tests: { alert_rule_test?: AlertRuleTest[] }[] };
    return doc.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.alertname === name);
  });

  test('is unit-tested firing and staying quiet', () => {
    expect(cases.some((c) => (c.exp_alerts ?? []).length > 0)).toBe(true);
    expect(cases.some((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
  });

  test('has a severity, a summary, a description and a runbook section', () => {
    expect(['critical', 'warning']).toContain(alert.labels.severity);
    expect(alert.annotations.summary?.length).toBeGreaterThan(10);
    expect(alert.annotations.description?.length).toBeGreaterThan(60);
    const [file, anchor] = (alert.annotations.runbook_url ?? '').split('#');
    expect(file).toBe('docs/runbook.md');
    const headings = readFileSync(join(ROOT, file), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('## '))
      .map((line) => anchorOf(line.slice(3)));
    expect(headings).toContain(anchor);
    expect(anchor).toBe(name.toLowerCase());
  });
});
