/**
 * The queries of the generated dashboards (deploy/grafana/*.json, the files operators import) and
 * the rules (deploy/prometheus/rules/*.yml), and Grafana's variable substitution, so a test can run
 * them against a real Prometheus.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = join(__dirname, '..', '..');
export const GRAFANA_DIR = join(ROOT, 'deploy', 'grafana');
export const PROMETHEUS_DIR = join(ROOT, 'deploy', 'prometheus');
export const RULES_DIR = join(PROMETHEUS_DIR, 'rules');

export interface GrafanaTarget {
  refId: string;
  expr: string;
  legendFormat?: string;
}

export interface GrafanaPanel {
  id?: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps: { value: number | null; color: string }[] } } };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
}

export interface GrafanaVariable {
  type: string;
  name: string;
  query?: string | { query: string };
  includeAll?: boolean;
  allValue?: string;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  tags?: string[];
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
}

export function dashboardFiles(): string[] {
  return readdirSync(GRAFANA_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort();
}

export function readDashboard(file: string): GrafanaDashboard {
  return JSON.parse(readFileSync(join(GRAFANA_DIR, file), 'utf8')) as GrafanaDashboard;
}

/** Every panel that draws data (rows left out, collapsed rows' panels included). */
export function dataPanels(dashboard: GrafanaDashboard): GrafanaPanel[] {
  const all: GrafanaPanel[] = [];
  const visit = (panels: GrafanaPanel[]) => {
    for (const panel of panels) {
      if (panel.type === 'row') visit(panel.panels ?? []);
      else all.push(panel);
    }
  };
  visit(dashboard.panels);
  return all;
}

export interface DashboardQuery {
  readonly dashboard: string;
  readonly panel: string;
  readonly unit: string;
  readonly refId: string;
  readonly expr: string;
  readonly legend: string;
}

export function dashboardQueries(file: string): DashboardQuery[] {
  const dashboard = readDashboard(file);
  return dataPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      dashboard: dashboard.title,
      panel: panel.title,
      unit: panel.fieldConfig?.defaults?.unit ?? '',
      refId: target.refId,
      expr: target.expr,
      legend: target.legendFormat ?? '',
    })),
  );
}

/** A `label_values(selector, label)` variable, and the value its "All" stands for. */
export interface LabelVariable {
  readonly name: string;
  readonly selector: string;
  readonly label: string;
  readonly allValue: string;
}

export function labelVariables(dashboard: GrafanaDashboard): LabelVariable[] {
  return dashboard.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => {
      const text = typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? '');
      const match = /^label_values\((.*),\s*(\w+)\)$/.exec(text);
      if (!match) throw new Error(`variable ${variable.name}: not a label_values() query: ${text}`);
      if (!variable.includeAll || variable.allValue === undefined) {
        throw new Error(`variable ${variable.name}: expected an "All" option with an explicit allValue`);
      }
      return { name: variable.name, selector: match[1], label: match[2], allValue: variable.allValue };
    });
}

/**
 * Replaces `$name`, `${name}` and `[[name]]` the way Grafana does before a query leaves the
 * browser. Longer names first, so `$__rate_interval` is not taken for `$__rate` + `_interval`.
 */
export function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  let out = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    out = out.split(`\${${name}}`).join(values[name]).split(`[[${name}]]`).join(values[name]);
    out = out.replace(new RegExp(`\\$${name.replace(/[^\w]/g, '\\$&')}(?![\\w])`, 'g'), values[name]);
  }
  return out;
}

/**
 * Grafana's built-in interval variables for a range query with this step, against a Prometheus
 * scraping every `scrapeS` seconds: $__rate_interval is max($__interval + scrape, 4 × scrape).
 */
export function intervalVariables(stepS: number, scrapeS: number, rangeS: number): Record<string, string> {
  return {
    __interval: `${stepS}s`,
    __rate_interval: `${Math.max(stepS + scrapeS, 4 * scrapeS)}s`,
    __range: `${Math.round(rangeS)}s`,
  };
}

/** Fills a legend format (`{{grpc_method}} {{grpc_code}}`) from a series' labels. */
export function legendName(format: string, labels: Readonly<Record<string, string>>): string {
  const name = format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => labels[label] ?? '');
  return name.trim() || JSON.stringify(labels);
}

export interface Rule {
  readonly group: string;
  readonly name: string;
  readonly kind: 'alert' | 'record';
  readonly expr: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export function ruleFiles(): string[] {
  return readdirSync(RULES_DIR)
    .filter((file) => file.endsWith('.yml'))
    .sort()
    .map((file) => join(RULES_DIR, file));
}

export function readRules(): Rule[] {
  return ruleFiles().flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as {
      groups: {
        name: string;
        rules: {
          alert?: string;
          record?: string;
          expr: string;
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
        }[];
      }[];
    };
    return doc.groups.flatMap((group) =>
      group.rules.map((rule) => ({
        group: group.name,
        name: (rule.alert ?? rule.record)!,
        kind: rule.alert ? ('alert' as const) : ('record' as const),
        expr: String(rule.expr).trim(),
        labels: rule.labels ?? {},
        annotations: rule.annotations ?? {},
      })),
    );
  });
}
