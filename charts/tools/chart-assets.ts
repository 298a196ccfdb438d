/**
 * Makes the chart's generated files from their sources, so nothing in the chart is copied by hand:
 *
 * - dashboards/*.json: the Grafana dashboards of deploy/grafana/ (`make dashboards` makes those);
 * - rules/*.yml: the Prometheus rule files of deploy/prometheus/rules/;
 * - values.schema.json's definitions of each role's `config`: the role's settings schema
 *   (services/<role>/config.ts) less the keys the chart sets itself;
 * - the values tables of README.md: from the comments in values.yaml and from those schemas.
 *
 * Helm reads only files inside the chart, hence the copies. `make chart-assets` writes them;
 * test/chart/assets.test.ts fails when any of them differs from what this would write.
 *
 *   tsx charts/tools/chart-assets.ts          write the files
 *   tsx charts/tools/chart-assets.ts --check  list stale files, exit 1 when there are any
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { isMap, isScalar, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { directoryConfigSchema } from '../../services/directory/config';
import { hostConfigSchema } from '../../services/host/config';
import { introducerConfigSchema } from '../../services/introducer/config';

export const REPO_ROOT = join(__dirname, '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'grapevine');
export const DASHBOARD_SOURCE_DIR = join(REPO_ROOT, 'deploy', 'grafana');
export const RULE_SOURCE_DIR = join(REPO_ROOT, 'deploy', 'prometheus', 'rules');

/** The transport settings the chart sets for every role, from its `tls` values and health ports. */
const TLS_KEYS = ['healthPort', 'plaintext', 'tlsCertFile', 'tlsKeyFile', 'tlsCaFile', 'tlsClientAuth'] as const;

/** Settings the chart's templates set for each role; a role's `config` value may hold the rest. */
export const MANAGED_KEYS: Readonly<Record<Role, readonly string[]>> = {
  directory: [
    'host',
    'grpcPort',
    'metricsHost',
    'metricsPort',
    'metrics',
    'logLevel',
    ...TLS_KEYS,
    'redisUrl',
    'redisTlsCaFile',
    'introducerToken',
  ],
  host: [
    'host',
    'grpcPort',
    'appPort',
    'appToken',
    'metricsHost',
    'metricsPort',
    'metrics',
    'logLevel',
    ...TLS_KEYS,
    'advertiseAddress',
    'network',
    'name',
    'keyFile',
    'dataDir',
    'seeds',
    'dnsSeeds',
    'directory',
  ],
  introducer: [
    'host',
    'grpcPort',
    'metricsHost',
    'metricsPort',
    'metrics',
    'logLevel',
    ...TLS_KEYS,
    'advertiseAddress',
    'network',
    'name',
    'keyFile',
    'dataDir',
    'seeds',
    'dnsSeeds',
    'directory',
    'introducerToken',
    // A secret does not belong in a ConfigMap: with `application` on, the listener stays on the
    // pod's loopback, reached through `kubectl port-forward`.
    'appToken',
  ],
};

export type Role = 'directory' | 'host' | 'introducer';

export const ROLE_SCHEMAS: Readonly<Record<Role, z.ZodObject>> = {
  directory: directoryConfigSchema as unknown as z.ZodObject,
  host: hostConfigSchema as unknown as z.ZodObject,
  introducer: introducerConfigSchema as unknown as z.ZodObject,
};

type JsonObject = Record<string, unknown>;

interface ZodDefaultDef {
  readonly type: string;
  readonly defaultValue?: unknown;
}

/** The JSON schema of one role's `config` value: its settings as a file would give them. */
export function roleConfigSchema(role: Role): JsonObject {
  const full = z.toJSONSchema(ROLE_SCHEMAS[role], { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, JsonObject>;
  };
  const properties: Record<string, JsonObject> = {};
  const shape = (ROLE_SCHEMAS[role] as unknown as { shape: Record<string, { _zod?: { def?: ZodDefaultDef } }> }).shape;
  for (const [key, property] of Object.entries(full.properties)) {
    if (MANAGED_KEYS[role].includes(key)) continue;
    // A default over a transform (the booleans) does not reach the JSON Schema: take it from zod.
    const def = shape[key]?._zod?.def;
    properties[key] =
      property.default === undefined && def?.type === 'default' ? { default: def.defaultValue, ...property } : property;
  }
  return {
    type: 'object',
    description: `settings of grapevine ${role} (GRAPEVINE_* variables); the chart sets ${MANAGED_KEYS[role].join(', ')}`,
    additionalProperties: false,
    properties,
  };
}

function listFiles(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith(suffix))
    .sort();
}

/** One documented value of values.yaml: its dotted path, its comment and its default. */
export interface DocumentedValue {
  readonly path: string;
  readonly description: string;
  readonly value: unknown;
}

/**
 * The values of values.yaml and their `# -- ` comments. A key with such a comment is one value (its
 * children are not listed on their own); a mapping without one is a section whose keys are listed.
 * `undocumented` names the keys that are neither.
 */
export function documentedValues(valuesYaml: string): { values: DocumentedValue[]; undocumented: string[] } {
  const doc = parseDocument(valuesYaml);
  const values: DocumentedValue[] = [];
  const undocumented: string[] = [];
  const docOf = (comment: string | null | undefined): string | undefined => {
    const lines = (comment ?? '').split('\n').map((line) => line.trim());
    let start = -1;
    lines.forEach((line, index) => {
      if (line.startsWith('-- ')) start = index;
    });
    if (start < 0) return undefined;
    return lines.slice(start).join(' ').replace(/^-- /, '').trim();
  };
  const walk = (node: YamlNode | null, prefix: string): void => {
    if (!isMap(node)) return;
    node.items.forEach((pair, index) => {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const path = prefix ? `${prefix}.${key}` : key;
      const own = isScalar(pair.key) ? pair.key.commentBefore : undefined;
      const description = docOf(own) ?? (index === 0 ? docOf(node.commentBefore) : undefined);
      const value = pair.value as YamlNode | null;
      if (description !== undefined) {
        values.push({ path, description, value: value && 'toJSON' in value ? value.toJSON() : value });
      } else if (isMap(value) && value.items.length > 0) {
        walk(value, path);
      } else {
        undocumented.push(path);
      }
    });
  };
  walk(doc.contents as YamlNode | null, '');
  return { values, undocumented };
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function showDefault(value: unknown): string {
  if (value === '' || value === undefined) return '`""`';
  return `\`${JSON.stringify(value)}\``;
}

/** The Markdown tables between the README's markers. */
export function valuesTables(valuesYaml: string): string {
  const lines: string[] = ['| key | default | description |', '| --- | --- | --- |'];
  for (const value of documentedValues(valuesYaml).values) {
    lines.push(`| \`${value.path}\` | ${cell(showDefault(value.value))} | ${cell(value.description)} |`);
  }
  const sections = [lines.join('\n')];
  const roleValue: Record<Role, string> = { directory: 'directory', introducer: 'introducer', host: 'hosts' };
  for (const role of ['directory', 'introducer', 'host'] as const) {
    const schema = roleConfigSchema(role) as { properties: Record<string, JsonObject> };
    const rows = ['| key | default | range | description |', '| --- | --- | --- | --- |'];
    for (const [key, property] of Object.entries(schema.properties)) {
      rows.push(
        `| \`${key}\` | ${cell(showDefault(property.default))} | ${cell(rangeOf(property))} | ${cell(String(property.description ?? ''))} |`,
      );
    }
    sections.push(
      `#### \`${roleValue[role]}.config\`: settings of \`grapevine ${role}\`\n\n` +
        `The chart sets ${MANAGED_KEYS[role].map((key) => `\`${key}\``).join(', ')} itself.\n\n` +
        rows.join('\n'),
    );
  }
  return sections.join('\n\n');
}

function rangeOf(property: JsonObject): string {
  if (Array.isArray(property.enum)) return property.enum.join(', ');
  if (property.minimum !== undefined || property.maximum !== undefined) {
    return `${property.minimum ?? ''}..${property.maximum ?? ''}`;
  }
  if (typeof property.type === 'string') return property.type;
  if (Array.isArray(property.anyOf)) {
    return (property.anyOf as JsonObject[]).map((option) => String(option.type ?? option.const ?? '')).join(' or ');
  }
  return '';
}

export const README_BEGIN = '<!-- values:begin (make chart-assets writes this part) -->';
export const README_END = '<!-- values:end -->';

/** Every generated file of the chart (path relative to the repository), with its content. */
export function expectedAssets(): Map<string, string> {
  const assets = new Map<string, string>();
  const chartPath = (...parts: string[]) => relative(REPO_ROOT, join(CHART_DIR, ...parts));

  for (const file of listFiles(DASHBOARD_SOURCE_DIR, '.json')) {
    assets.set(chartPath('dashboards', file), readFileSync(join(DASHBOARD_SOURCE_DIR, file), 'utf8'));
  }
  for (const file of listFiles(RULE_SOURCE_DIR, '.yml')) {
    assets.set(chartPath('rules', file), readFileSync(join(RULE_SOURCE_DIR, file), 'utf8'));
  }

  const schemaFile = join(CHART_DIR, 'values.schema.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as { definitions: Record<string, unknown> };
  schema.definitions.directoryConfig = roleConfigSchema('directory');
  schema.definitions.hostConfig = roleConfigSchema('host');
  schema.definitions.introducerConfig = roleConfigSchema('introducer');
  assets.set(chartPath('values.schema.json'), `${JSON.stringify(schema, null, 2)}\n`);

  const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`charts/grapevine/README.md lacks the ${README_BEGIN} markers`);
  const tables = valuesTables(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  assets.set(
    chartPath('README.md'),
    `${readme.slice(0, begin + README_BEGIN.length)}\n\n${tables}\n\n${readme.slice(end)}`,
  );
  return assets;
}

/** Files in the chart's copy folders that no source has any more. */
export function orphanAssets(expected: Map<string, string>): string[] {
  const orphans: string[] = [];
  for (const [folder, suffix] of [
    ['dashboards', '.json'],
    ['rules', '.yml'],
  ] as const) {
    for (const file of listFiles(join(CHART_DIR, folder), suffix)) {
      const path = relative(REPO_ROOT, join(CHART_DIR, folder, file));
      if (!expected.has(path)) orphans.push(path);
    }
  }
  return orphans;
}

/** Generated files whose content differs from what they would be now, and orphaned copies. */
export function staleAssets(): string[] {
  const expected = expectedAssets();
  const stale: string[] = [];
  for (const [path, content] of expected) {
    const file = join(REPO_ROOT, path);
    if (!existsSync(file) || readFileSync(file, 'utf8') !== content) stale.push(path);
  }
  return [...stale, ...orphanAssets(expected)];
}

function main(): void {
  if (process.argv.includes('--check')) {
    const stale = staleAssets();
    for (const path of stale) process.stderr.write(`stale: ${path}\n`);
    if (stale.length > 0) {
      process.stderr.write('run `make chart-assets` and commit the result\n');
      process.exit(1);
    }
    return;
  }
  const expected = expectedAssets();
  for (const path of orphanAssets(expected)) rmSync(join(REPO_ROOT, path));
  for (const [path, content] of expected) {
    const file = join(REPO_ROOT, path);
    mkdirSync(dirname(file), { recursive: true });
    if (!existsSync(file) || readFileSync(file, 'utf8') !== content) {
      writeFileSync(file, content);
      process.stdout.write(`wrote ${path}\n`);
    }
  }
}

if (require.main === module) main();
