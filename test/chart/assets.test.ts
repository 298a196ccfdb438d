/**
 * The chart's generated parts match their sources: dashboards and rules copied from deploy/, the
 * role settings in values.schema.json, the README's values tables; and every value is documented.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  DASHBOARD_SOURCE_DIR,
  MANAGED_KEYS,
  ROLE_SCHEMAS,
  RULE_SOURCE_DIR,
  documentedValues,
  staleAssets,
  type Role,
} from '../../charts/tools/chart-assets';
import { CHART_DIR, MONITORING_APIS, ensureHelm, ofKind, template } from './helm';

/** The sources present (none yet is a valid state: then the chart must hold no copies either). */
const sourceFiles = (dir: string, suffix: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((file) => file.endsWith(suffix))
        .sort()
    : [];
const sourceDashboards = () => sourceFiles(DASHBOARD_SOURCE_DIR, '.json');
const sourceRules = () => sourceFiles(RULE_SOURCE_DIR, '.yml');

test('the chart holds what `make chart-assets` makes from deploy/ and the role settings', () => {
  expect(staleAssets()).toEqual([]);
});

describe('rendered monitoring objects', () => {
  beforeAll(() => ensureHelm(), 300_000);

  test('every dashboard ConfigMap holds the generated JSON byte for byte, labelled for the Grafana sidecar', () => {
    const maps = ofKind(template('helm4'), 'ConfigMap');
    const byFile = new Map<string, string>();
    for (const map of maps) {
      expect(map.metadata.labels!.grafana_dashboard).toBe('1');
      expect(map.metadata.annotations!.grafana_folder).toBe('Grapevine');
      for (const [file, content] of Object.entries(map.data as Record<string, string>)) byFile.set(file, content);
    }
    expect([...byFile.keys()].sort()).toEqual(sourceDashboards());
    for (const file of sourceDashboards()) {
      const source = readFileSync(join(DASHBOARD_SOURCE_DIR, file), 'utf8');
      expect(byFile.get(file)).toBe(source);
      expect(() => JSON.parse(byFile.get(file)!)).not.toThrow();
    }
  });

  test('the PrometheusRule holds every group of deploy/prometheus/rules', () => {
    const args = MONITORING_APIS.flatMap((api) => ['--api-versions', api]);
    const rules = ofKind(template('helm3', args), 'PrometheusRule');
    const groups = sourceRules().flatMap(
      (file) => (parseYaml(readFileSync(join(RULE_SOURCE_DIR, file), 'utf8')) as { groups: unknown[] }).groups,
    );
    // No rule files, no (empty) PrometheusRule.
    expect(rules).toHaveLength(groups.length > 0 ? 1 : 0);
    if (rules.length > 0) expect(rules[0].spec.groups).toEqual(groups);
  });

  test('the dashboards can be turned off', () => {
    expect(ofKind(template('helm3', ['--set', 'metrics.dashboards.enabled=false']), 'ConfigMap')).toEqual([]);
  });
});

describe('values.yaml and values.schema.json', () => {
  const valuesYaml = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));

  /** Dotted paths of the schema's properties, not going into `config` (documented per setting). */
  function schemaPaths(node: any, prefix: string): string[] {
    const resolved = node.$ref ? schema.definitions[node.$ref.replace('#/definitions/', '')] : node;
    if (!resolved.properties || prefix.endsWith('config')) return [prefix];
    return Object.entries(resolved.properties).flatMap(([key, child]) =>
      schemaPaths(child, prefix ? `${prefix}.${key}` : key),
    );
  }

  test('has a modeline pointing at the schema', () => {
    expect(valuesYaml.split('\n')[0]).toBe('# yaml-language-server: $schema=values.schema.json');
  });

  test('every value has a `# -- ` comment', () => {
    expect(documentedValues(valuesYaml).undocumented).toEqual([]);
  });

  test('every value is named in camelCase', () => {
    const paths = documentedValues(valuesYaml).values.map((value) => value.path);
    expect(paths.length).toBeGreaterThan(100);
    expect(paths.filter((path) => path.split('.').some((key) => !/^[a-z][a-zA-Z0-9]*$/.test(key)))).toEqual([]);
  });

  test('every documented value is in the schema, and the schema knows no value the file lacks', () => {
    const paths = schemaPaths(schema, '');
    const documented = documentedValues(valuesYaml).values.map((value) => value.path);
    for (const path of documented) {
      expect({ path, inSchema: paths.some((p) => p === path || p.startsWith(`${path}.`)) }).toEqual({
        path,
        inSchema: true,
      });
    }
    for (const path of paths) {
      expect({ path, inValues: documented.some((d) => path === d || path.startsWith(`${d}.`)) }).toEqual({
        path,
        inValues: true,
      });
    }
  });

  test('every object in the schema refuses unknown keys', () => {
    const open: string[] = [];
    const visit = (node: any, where: string) => {
      if (!node || typeof node !== 'object') return;
      // An object lists its keys and refuses others, or is a map whose values have a schema.
      const closed = node.properties
        ? node.additionalProperties === false
        : typeof node.additionalProperties === 'object';
      if (node.type === 'object' && !closed) open.push(where);
      for (const [key, child] of Object.entries(node)) visit(child, `${where}/${key}`);
    };
    visit(schema, '#');
    expect(open).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
  });

  test.each(['directory', 'host', 'introducer'] as const)(
    'the settings the chart sets for the %s exist in its schema',
    (role: Role) => {
      const keys = Object.keys(ROLE_SCHEMAS[role].shape);
      for (const key of MANAGED_KEYS[role]) expect(keys).toContain(key);
    },
  );
});
