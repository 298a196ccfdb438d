/**
 * Runs the real helm 3 and helm 4 on the chart. The binaries come from .ci/install-helm (under
 * .tools/bin, gitignored); a fresh clone gets them on the first run. Every helm call has its own
 * empty cache, config and data directories, so nothing on the machine leaks into the results.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const REPO_ROOT = join(__dirname, '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'grapevine');
export const HELMS = [
  { name: 'helm3', version: 'v3.17.3' },
  { name: 'helm4', version: 'v4.1.4' },
] as const;
export type HelmName = (typeof HELMS)[number]['name'];

/** The kinds a cluster with the Prometheus Operator serves, as `--api-versions` takes them. */
export const MONITORING_APIS = ['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule'];

export function helmPath(helm: HelmName): string {
  return join(REPO_ROOT, '.tools', 'bin', helm);
}

/** Installs the binaries when one is missing (the installer is idempotent and takes a lock). */
export function ensureHelm(): void {
  if (HELMS.every((helm) => existsSync(helmPath(helm.name)))) return;
  execFileSync(join(REPO_ROOT, '.ci', 'install-helm'), { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runHelm(helm: HelmName, args: readonly string[]): HelmResult {
  const home = mkdtempSync(join(tmpdir(), 'grapevine-helm-'));
  try {
    const result = spawnSync(helmPath(helm), args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_DATA_HOME: join(home, 'data'),
      },
    });
    if (result.error) throw result.error;
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** A set of values the chart is checked with: the defaults, or one ci/*-values.yaml file. */
export interface ValuesCase {
  readonly name: string;
  readonly file?: string;
  readonly apiVersions: readonly string[];
}

/**
 * The defaults and every ci/*-values.yaml. A ci file that needs APIs a bare cluster lacks names
 * them in a `# api-versions: a/v1/Kind,b/v1/Kind` line, as a cluster with those CRDs would serve.
 */
export function valuesCases(): ValuesCase[] {
  const cases: ValuesCase[] = [{ name: 'default values', apiVersions: [] }];
  const ciDir = join(CHART_DIR, 'ci');
  for (const file of readdirSync(ciDir).filter((name) => name.endsWith('-values.yaml'))) {
    const text = readFileSync(join(ciDir, file), 'utf8');
    const line = /^# api-versions: (.+)$/m.exec(text);
    const apiVersions = line ? line[1].split(',').map((api) => api.trim()) : [];
    cases.push({ name: `ci/${file}`, file: join(ciDir, file), apiVersions });
  }
  return cases;
}

/** The TLS values a case renders with: the chart's defaults, overridden by its file. */
export interface TlsValues {
  readonly enabled: boolean;
  readonly clientAuth: boolean;
  readonly existingSecret: string;
  readonly healthFrom: readonly unknown[];
}

export function tlsValuesOf(values: ValuesCase): TlsValues {
  const file = (values.file ? parseYaml(readFileSync(values.file, 'utf8')) : null) ?? {};
  const tls = file.tls ?? {};
  return {
    enabled: tls.enabled ?? true,
    clientAuth: tls.clientAuth ?? false,
    existingSecret: tls.existingSecret ?? '',
    healthFrom: file.networkPolicy?.healthFrom ?? [],
  };
}

/** Where the roles and the test pod find the TLS files. */
export const TLS_DIR = '/etc/grapevine/tls';

export function valuesArgs(values: ValuesCase): string[] {
  return [
    ...(values.file ? ['--values', values.file] : []),
    ...values.apiVersions.flatMap((api) => ['--api-versions', api]),
  ];
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // The rendered objects are checked against the Kubernetes schemas; tests read them freely.
  spec?: any;
  [field: string]: any;
};

export const RELEASE = 'gv';
export const NAMESPACE = 'grapevine';

/** `helm template` with extra arguments; throws with helm's message when it fails. */
export function template(helm: HelmName, args: readonly string[] = []): K8sObject[] {
  const result = runHelm(helm, ['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...args]);
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0].message}`);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export function ofKind(objects: readonly K8sObject[], kind: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind);
}

export function component(object: K8sObject): string | undefined {
  return object.metadata.labels?.['app.kubernetes.io/component'];
}
