/**
 * The dashboards in deploy/grafana/: the committed JSON is what the code generates (`make
 * dashboards`), and every panel has what an operator needs: a query, a unit, a description that
 * says what to do, and the shared data source.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS, dashboardJson } from '../../deploy/grafana/src/dashboards';
import { MAX_WATCHERS } from '../../services/common/limits';
import { DEFAULT_MAX_CONCURRENT_DIAL_BACKS } from '../../services/introducer/config';
import { OVERVIEW_MAIN_PANELS } from '../../deploy/grafana/src/overview';
import { dataPanels, GRAFANA_DIR, labelVariables, readDashboard } from './dashboard-queries';

test.each(DASHBOARDS.map((d) => [d.file, d] as const))('%s is up to date (make dashboards)', (file, d) => {
  const committed = readFileSync(join(GRAFANA_DIR, file), 'utf8');
  // toBe rather than a boolean: a failure shows the first difference.
  expect(committed).toBe(dashboardJson(d.build()));
});

test('the dashboards are an overview, one per role and one for gRPC, with distinct uids', () => {
  const dashboards = DASHBOARDS.map((d) => readDashboard(d.file));
  expect(dashboards.map((d) => d.title).sort()).toEqual(
    [
      'Grapevine / Overview',
      'Grapevine / Directory',
      'Grapevine / Introducer',
      'Grapevine / Host',
      'Grapevine / gRPC',
    ].sort(),
  );
  expect(new Set(dashboards.map((d) => d.uid)).size).toBe(dashboards.length);
});

test('the overview has the panels the issue asks for, and the ones the picture draws', () => {
  const titles = dataPanels(readDashboard('grapevine-overview.json')).map((p) => p.title);
  expect(titles).toEqual(expect.arrayContaining([...OVERVIEW_MAIN_PANELS]));
  expect(titles).toEqual(expect.arrayContaining(['Directory server-error ratio', 'Registrations and expiries']));
});

test('panels that show a value with a limit draw the limit at its default, in red', () => {
  const redFrom = (file: string, title: string) =>
    dataPanels(readDashboard(file))
      .find((p) => p.title === title)
      ?.fieldConfig?.defaults?.thresholds?.steps.find((step) => step.color === 'red')?.value;
  expect(redFrom('grapevine-directory.json', 'Watchers')).toBe(MAX_WATCHERS);
  expect(redFrom('grapevine-introducer.json', 'Dial-backs in flight')).toBe(DEFAULT_MAX_CONCURRENT_DIAL_BACKS);
});

describe.each(DASHBOARDS.map((d) => [d.file] as const))('%s', (file) => {
  const dashboard = readDashboard(file);
  const panels = dataPanels(dashboard);

  test('carries the grapevine tag, a data source variable, and network and instance variables', () => {
    expect(dashboard.tags).toContain('grapevine');
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    expect(labelVariables(dashboard).map((v) => v.name)).toEqual(expect.arrayContaining(['network', 'instance']));
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  test('has a network variable wherever a query reads the network label', () => {
    const readsNetwork = panels.some((p) => (p.targets ?? []).some((t) => t.expr.includes('network')));
    expect(labelVariables(dashboard).some((v) => v.name === 'network')).toBe(readsNetwork);
  });

  test('every variable is used by a query', () => {
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    const selectors = labelVariables(dashboard)
      .map((v) => v.selector)
      .join('\n');
    for (const variable of labelVariables(dashboard)) {
      expect(`${exprs}\n${selectors}`).toContain(`$${variable.name}`);
    }
  });

  test('every panel has a unique id, a description, a unit, the shared data source and queries', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      const where = `${dashboard.title} / ${panel.title}`;
      expect({ where, description: (panel.description ?? '').length > 50 }).toEqual({ where, description: true });
      expect({ where, unit: panel.fieldConfig?.defaults?.unit ?? '' }).toEqual({
        where,
        unit: expect.stringMatching(/.+/),
      });
      expect({ where, datasource: panel.datasource?.uid }).toEqual({ where, datasource: '${datasource}' });
      expect(panel.targets?.length).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
    }
  });

  test('counters are shown as rates over $__rate_interval, never a fixed window', () => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        expect({ panel: panel.title, expr: target.expr }).toEqual({
          panel: panel.title,
          expr: expect.not.stringMatching(/\[\d+[smhd]\]/),
        });
        for (const [, metric] of target.expr.matchAll(/\b(\w+_total)\b/g)) {
          const shownAsRate = new RegExp(`(rate|increase)\\(${metric}\\{[^}]*\\}\\[\\$__rate_interval\\]\\)`);
          // grpc_*_started_total - handled_total (calls open) is the one place a raw counter difference is meant.
          if (/_(started|handled)_total$/.test(metric) && target.expr.includes(' - ')) continue;
          expect({ panel: panel.title, expr: target.expr }).toEqual({
            panel: panel.title,
            expr: expect.stringMatching(shownAsRate),
          });
        }
      }
    }
  });
});
