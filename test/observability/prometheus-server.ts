/**
 * A real Prometheus (the Debian package) for tests: a free loopback port, its own temp dir for
 * config and data, and a small client for the HTTP API the dashboards and rules are checked with.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';
export const PROMTOOL_BINARY = '/usr/bin/promtool';
const START_TIMEOUT_MS = 30_000;

export interface PrometheusServer {
  readonly url: string;
  readonly dir: string;
  /** Everything Prometheus logged so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Starts Prometheus with `config` (a YAML or JSON text) and waits until it is ready. */
export async function startPrometheus(config: string): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, config);
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS_BINARY,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Lets a test ask for a fresh look at the rules and targets without waiting.
      '--web.enable-lifecycle',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));

  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`prometheus was not ready within ${START_TIMEOUT_MS} ms:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    dir,
    output: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly values: readonly (readonly [number, string])[];
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
}

/** An error answer of the HTTP API: the query did not parse or could not run. */
export class PrometheusQueryError extends Error {
  override readonly name = 'PrometheusQueryError';
}

async function get<T>(url: string): Promise<T> {
  const response = await fetch(url);
  const body = (await response.json()) as ApiAnswer<T>;
  if (body.status !== 'success') throw new PrometheusQueryError(`${body.errorType}: ${body.error}`);
  return body.data as T;
}

export class PrometheusApi {
  constructor(private readonly url: string) {}

  /** A range query; every series with its [time, value] points. */
  async queryRange(expr: string, startS: number, endS: number, stepS: number): Promise<Sample[]> {
    const params = new URLSearchParams({ query: expr, start: String(startS), end: String(endS), step: String(stepS) });
    const data = await get<{ resultType: string; result: Sample[] }>(`${this.url}/api/v1/query_range?${params}`);
    return data.result;
  }

  /** An instant query: how many series (or 1 for a scalar) it returns. */
  async queryInstant(expr: string, timeS: number): Promise<number> {
    const params = new URLSearchParams({ query: expr, time: String(timeS) });
    const data = await get<{ resultType: string; result: unknown }>(`${this.url}/api/v1/query?${params}`);
    return Array.isArray(data.result) ? data.result.length : 1;
  }

  /** The values of `label` on the series matching `selector` between two times. */
  labelValues(label: string, selector: string, startS: number, endS: number): Promise<string[]> {
    const params = new URLSearchParams({ 'match[]': selector, start: String(startS), end: String(endS) });
    return get<string[]>(`${this.url}/api/v1/label/${encodeURIComponent(label)}/values?${params}`);
  }

  targets(): Promise<{ activeTargets: { labels: Record<string, string>; health: string; scrapeUrl: string }[] }> {
    return get(`${this.url}/api/v1/targets?state=active`);
  }

  rules(): Promise<{
    groups: { name: string; rules: { name: string; type: string; health: string; lastError?: string }[] }[];
  }> {
    return get(`${this.url}/api/v1/rules`);
  }
}

/** True when any point of any series is a finite number: the panel would draw something. */
export function hasData(series: readonly Sample[]): boolean {
  return series.some((s) => s.values.some(([, value]) => Number.isFinite(Number(value))));
}
