/**
 * The test that holds the observability together: a real Prometheus scrapes a running system
 * (`grapevine dev` on a real Redis, with announces, lookups, floods, a crashed host and a Redis
 * outage), then every query of every dashboard panel, every dashboard variable and every alert and
 * recording rule runs through its HTTP API. Each must parse; each dashboard query must return data.
 * Every metric the system exposes is checked against the naming conventions on the way.
 *
 * GRAPEVINE_WRITE_PICTURES=1 also writes docs/dashboard-overview.svg from the data of the run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { parse, stringify } from 'yaml';
import { DirectoryClient } from '../../services/client/directory-client';
import { HostClient } from '../../services/client/host-client';
import { generateIdentity, identityToPem } from '../../services/common/identity';
import { signRecord } from '../../services/common/records';
import { freePort } from '../support/free-port';
import { GRAPEVINE_COMMAND, GrapevineProcess, runGrapevine } from '../support/processes';
import { RedisServer, startRedisServer } from '../support/redis-server';
import {
  dashboardFiles,
  dashboardQueries,
  intervalVariables,
  labelVariables,
  legendName,
  PROMETHEUS_DIR,
  readDashboard,
  readRules,
  ROOT,
  ruleFiles,
  substitute,
} from './dashboard-queries';
import { MetricFamily, namingProblems, parseExposition, THIRD_PARTY_EXCEPTIONS } from './metric-names';
import { hasData, PROMTOOL_BINARY, PrometheusApi, PrometheusServer, startPrometheus } from './prometheus-server';
import { OVERVIEW_MAIN_PANELS } from '../../deploy/grafana/src/overview';

/** Scrape and rule evaluation interval of the test's Prometheus, in seconds. */
const SCRAPE_S = 1;
/**
 * The scrape interval Grafana's data source would be set to, which sizes $__rate_interval: twice
 * the real one, so a rate window holds four samples even when a loaded machine delays scrapes and
 * a single event (one join) still shows.
 */
const DATASOURCE_SCRAPE_S = 2 * SCRAPE_S;
/** Step of the range queries, in seconds (Grafana's $__interval). */
const STEP_S = 2;
const NETWORK = 'default';

/**
 * Metrics the dashboards use that no running process exposes yet, because the code that exposes
 * them is being written: their queries are reported, not failed. The test fails as soon as one of
 * them is exposed, so the entry must go and its queries count from then on.
 */
const PENDING_METRICS: Readonly<Record<string, string>> = {};

interface Target {
  readonly role: string;
  readonly address: string;
}

function readTargets(file: string): Target[] {
  const groups = JSON.parse(readFileSync(file, 'utf8')) as { targets: string[]; labels: { role: string } }[];
  return groups.flatMap((group) => group.targets.map((address) => ({ role: group.labels.role, address })));
}

async function exposition(address: string): Promise<string> {
  const response = await fetch(`http://${address}/metrics`);
  if (!response.ok) throw new Error(`GET http://${address}/metrics: ${response.status}`);
  return response.text();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `signal`, and SIGKILL when the process has not exited 10 s later. */
async function stopProcess(process: GrapevineProcess, signal: NodeJS.Signals): Promise<void> {
  if (process.child.exitCode !== null || process.child.signalCode !== null) return;
  process.child.kill(signal);
  const timer = setTimeout(() => process.child.kill('SIGKILL'), 10_000);
  await process.exited();
  clearTimeout(timer);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // Not yet: a process still starting, a scrape not yet taken.
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** The metric names an expression reads (identifiers followed by a selector or a range). */
function metricsOf(expr: string): string[] {
  const names = new Set<string>();
  for (const [, name] of expr.matchAll(/([a-zA-Z_][a-zA-Z0-9_:]*)\s*\{/g)) names.add(name);
  return [...names].filter((name) => !['by', 'without', 'on', 'ignoring'].includes(name));
}

describe('Prometheus against a running grapevine dev', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'grapevine-observe-'));
  const devTargets = join(tmp, 'dev-targets.json');
  const extraTargets = join(tmp, 'extra-targets.json');
  let redis: RedisServer | undefined;
  let dev: GrapevineProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let api: PrometheusApi;
  const announces: GrapevineProcess[] = [];
  /** What afterAll undoes, last first: streams, clients and processes the run opened. */
  const cleanups: (() => unknown)[] = [];
  /** Expositions taken from every process, the crashed one included (before its crash). */
  const expositions = new Map<string, MetricFamily[]>();
  let startS = 0;
  let endS = 0;

  beforeAll(async () => {
    redis = await startRedisServer();
    const [directoryPort, metricsPort] = [await freePort(), await freePort()];
    dev = runGrapevine([
      'dev',
      '--redis',
      redis.url,
      '--directory-port',
      String(directoryPort),
      '--metrics-port',
      String(metricsPort),
      '--introducer-port',
      '0',
      '--introducer-metrics-port',
      '0',
      '--introducer-app-port',
      '0',
      '--host-ports',
      '0,0,0',
      '--host-app-ports',
      '0,0,0',
      '--host-metrics-ports',
      '0,0,0',
      '--prometheus-targets',
      devTargets,
    ]);
    await dev.waitFor(/Ctrl-C stops everything/, 60_000);
    const directory = `127.0.0.1:${directoryPort}`;
    const hosts = [...dev.output().matchAll(/^ {2}host \d+\s+grpc (\S+)\s+application (\S+)\s+peer (\S+)/gm)].map(
      ([, address, appAddress, peerId]) => ({
        address,
        appAddress,
        peerId,
      }),
    );
    expect(hosts).toHaveLength(3);
    const introducer = /^ {2}introducer grpc (\S+)/m.exec(dev.output())?.[1];
    if (!introducer) throw new Error(`grapevine dev names no introducer:\n${dev.output()}`);
    writeFileSync(extraTargets, '[]\n');

    // The deployed configuration, pointed at this run's ports and scraping every second.
    const config = parse(readFileSync(join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: Record<string, unknown>[];
    };
    config.global.scrape_interval = `${SCRAPE_S}s`;
    config.global.evaluation_interval = `${SCRAPE_S}s`;
    config.rule_files = ruleFiles();
    const [job] = config.scrape_configs;
    delete job.static_configs;
    job.file_sd_configs = [{ files: [devTargets, extraTargets], refresh_interval: '1s' }];
    prometheus = await startPrometheus(stringify(config));
    api = new PrometheusApi(prometheus.url);
    // Queries look from the first scrape on: nothing was recorded before. Traffic waits until
    // every process has been scraped twice, so what it causes shows as a change.
    startS = Date.now() / 1_000;
    const devProcesses = readTargets(devTargets).length;
    await until('two scrapes of every dev process', 30_000, async () =>
      (await api.queryInstant('count_over_time(up[1m]) >= 2', Date.now() / 1_000)) >= devProcesses ? true : undefined,
    );

    // Traffic. Two peers announced from the terminal (one leaves cleanly later), six through the
    // typed client; lookups that succeed and ones that do not.
    for (const [i, name] of ['web', 'db'].entries()) {
      const keyFile = join(tmp, `${name}.key`);
      writeFileSync(keyFile, identityToPem(generateIdentity()), { mode: 0o600 });
      announces.push(
        runGrapevine([
          'peers',
          'announce',
          '--directory',
          directory,
          '--key',
          keyFile,
          '--name',
          name,
          '--address',
          `127.0.0.1:${8080 + i}`,
          '--label',
          `tier=${name}`,
        ]),
      );
    }
    const client = new DirectoryClient(directory);
    cleanups.push(() => client.close());
    const watch = new AbortController();
    const watching = (async () => {
      for await (const _change of client.watch(NETWORK, { signal: watch.signal })) {
        // Keeps a watcher open so watch events flow.
      }
    })().catch(() => undefined);
    cleanups.push(() => (watch.abort(), watching));
    for (let i = 0; i < 6; i++) {
      const identity = generateIdentity();
      const fields = {
        network: NETWORK,
        name: `svc-${i}`,
        addresses: [`127.0.0.1:${9100 + i}`],
        labels: { zone: i % 2 ? 'a' : 'b' },
        seq: 2,
        issuedAtMs: Date.now(),
        withdrawn: false,
      };
      const lease = await client.register(signRecord(identity, fields));
      await client.renew(lease.leaseId);
      await client.resolve(NETWORK, { name: `svc-${i}` });
      // A replayed older record: FAILED_PRECONDITION, a client's mistake, not the directory's.
      await client.register(signRecord(identity, { ...fields, seq: 1 })).catch(() => undefined);
      await client.resolve(NETWORK, { name: `nobody-${i}` }).catch(() => undefined);
    }
    await client.listAll(NETWORK);
    await Promise.all(announces.map((announce) => announce.waitFor(/^registered /, 30_000)));

    const first = new HostClient(hosts[0].appAddress);
    const second = new HostClient(hosts[1].appAddress);
    cleanups.push(
      () => first.close(),
      () => second.close(),
    );
    const receiver = new AbortController();
    const receiving = (async () => {
      for await (const _message of second.receive({ signal: receiver.signal })) {
        // Keeps a receiver open on host 2.
      }
    })().catch(() => undefined);
    cleanups.push(() => (receiver.abort(), receiving));
    for (let i = 0; i < 5; i++) {
      await first.flood(Buffer.from(`news ${i}`));
      await first.send(hosts[2].peerId, Buffer.from(`hi ${i}`));
    }

    // A crash: one more host joins through the introducer (dialled back, introduced, registered),
    // keeps a peer cache, is scraped, then killed.
    const crashDir = join(tmp, 'crash');
    const extra = runGrapevine([
      'host',
      '--grpc-port',
      '0',
      '--app-port',
      '0',
      '--metrics-port',
      '0',
      '--profile',
      'local',
      '--seeds',
      introducer,
      '--directory',
      directory,
      '--data-dir',
      crashDir,
      '--cache-write-interval-ms',
      '200',
      '--log-level',
      'warn',
    ]);
    cleanups.push(() => stopProcess(extra, 'SIGKILL'));
    const started = JSON.parse(await extra.waitFor(/^\{"peerId"/, 60_000)) as {
      peerId: string;
      application: string;
      metricsPort: number;
    };
    const extraMetrics = `127.0.0.1:${started.metricsPort}`;
    writeFileSync(extraTargets, `${JSON.stringify([{ targets: [extraMetrics], labels: { role: 'host' } }])}\n`);
    const extraClient = new HostClient(started.application);
    cleanups.push(() => extraClient.close());
    await until('the extra host to have a neighbour', 30_000, async () =>
      (await extraClient.peers()).peers.some((peer) => peer.view === 'active') ? true : undefined,
    );
    await until('a few scrapes of the extra host', 30_000, async () =>
      (await api.queryInstant(`count_over_time(up{instance="${extraMetrics}"}[1m]) >= 3`, Date.now() / 1_000)) > 0
        ? true
        : undefined,
    );
    expositions.set(`host ${extraMetrics} (crashed later)`, parseExposition(await exposition(extraMetrics)));
    extra.child.kill('SIGKILL');
    await extra.exited();
    await until('a host to declare the crashed one dead', 40_000, async () =>
      (await api.queryInstant('sum(grapevine_host_deaths_total) > 0', Date.now() / 1_000)) > 0 ? true : undefined,
    );
    await until('the directory to forget the crashed host', 45_000, () =>
      client.resolve(NETWORK, { peerId: started.peerId }).then(
        () => undefined,
        (error: { code?: number }) => (error.code === status.NOT_FOUND ? true : undefined),
      ),
    );

    // One announce leaves cleanly: a Deregister and a DELETE event.
    announces[0].child.kill('SIGINT');
    await announces[0].exited();

    // A short Redis outage: the directory answers UNAVAILABLE, then recovers on a flushed store.
    await redis.kill();
    for (let i = 0; i < 3; i++) {
      await client.resolve(NETWORK, { name: 'db' }).catch(() => undefined);
      await sleep(1_000);
    }
    await until('a scrape of the directory without its store', 20_000, async () =>
      (await api.queryInstant('min_over_time(grapevine_directory_store_up[1m]) == 0', Date.now() / 1_000)) > 0
        ? true
        : undefined,
    );
    await redis.restart();
    await until('the directory to reach its store again', 30_000, async () =>
      (await api.queryInstant('min(grapevine_directory_store_up) == 1', Date.now() / 1_000)) > 0 ? true : undefined,
    );
    // Everything in the directory is soft state: the hosts register again when a renewal answers
    // NOT_FOUND.
    await until('the dev hosts to register again on the flushed store', 45_000, async () => {
      const listed = new Set((await client.listAll(NETWORK)).peers.map((peer) => peer.record.peerId));
      return hosts.every((host) => listed.has(host.peerId)) ? true : undefined;
    });
    await client.resolve(NETWORK, { name: 'db' }).catch(() => undefined);

    for (const target of readTargets(devTargets)) {
      expositions.set(`${target.role} ${target.address}`, parseExposition(await exposition(target.address)));
    }
    // Two more scrapes so the last traffic is in, then every query looks at the same window.
    await sleep(2_500 * SCRAPE_S);
    endS = Date.now() / 1_000;
  }, 180_000);

  // Runs whether or not the run above got to its end, so a failure never leaves a stream, a
  // channel or a process behind to keep jest from exiting.
  afterAll(async () => {
    for (const cleanup of cleanups.reverse())
      await Promise.resolve()
        .then(cleanup)
        .catch(() => undefined);
    await Promise.all(announces.map((announce) => stopProcess(announce, 'SIGINT')));
    if (dev) await stopProcess(dev, 'SIGTERM');
    await prometheus?.stop();
    await redis?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  /** Every series name any process exposed. */
  const exposed = (): Set<string> =>
    new Set([...expositions.values()].flatMap((families) => families.map((family) => family.name)));

  test('Prometheus scrapes every dev process and loads every rule without an error', async () => {
    const { activeTargets } = await api.targets();
    const roles = new Set(activeTargets.map((target) => target.labels.role));
    expect(roles.has('directory') && roles.has('host')).toBe(true);
    for (const target of readTargets(devTargets)) {
      const scraped = activeTargets.find((t) => t.labels.instance === target.address);
      expect({ target: target.address, health: scraped?.health }).toEqual({ target: target.address, health: 'up' });
    }
    const { groups } = await api.rules();
    const loaded = groups.flatMap((group) => group.rules);
    expect(loaded.map((rule) => rule.name).sort()).toEqual(
      readRules()
        .map((rule) => rule.name)
        .sort(),
    );
    for (const rule of loaded) {
      expect({ rule: rule.name, health: rule.health, lastError: rule.lastError ?? '' }).toEqual({
        rule: rule.name,
        health: 'ok',
        lastError: '',
      });
    }
  });

  test('every metric the system exposes follows the naming conventions', () => {
    const problems = [...expositions.entries()].flatMap(([process, families]) =>
      namingProblems(families).map((problem) => `${process}: ${problem.metric}: ${problem.problem}`),
    );
    const names = exposed();
    process.stdout.write(
      `naming: ${names.size} metric families from ${expositions.size} processes checked; ` +
        `exempt (third party): ${
          Object.keys(THIRD_PARTY_EXCEPTIONS)
            .filter((name) => names.has(name))
            .join(', ') || 'none'
        }\n`,
    );
    expect(names.size).toBeGreaterThan(50);
    expect([...new Set(problems)]).toEqual([]);
  });

  test('promtool finds nothing to lint in any /metrics', () => {
    const lint = [...expositions.entries()].flatMap(([process, families]) => {
      const text = families
        .map((family) =>
          [
            `# HELP ${family.name} ${family.help}`,
            `# TYPE ${family.name} ${family.type}`,
            ...family.samples.map(
              (sample) =>
                `${sample.name}{${Object.entries(sample.labels)
                  .map(([key, value]) => `${key}="${value}"`)
                  .join(',')}} 0`,
            ),
          ].join('\n'),
        )
        .join('\n');
      let output = '';
      try {
        output = execFileSync(PROMTOOL_BINARY, ['check', 'metrics'], {
          input: `${text}\n`,
          encoding: 'utf8',
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch (error) {
        const failed = error as { stdout?: string; stderr?: string };
        output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
      }
      return output
        .split('\n')
        .filter((line) => line.trim() !== '')
        .filter((line) => !(line.split(' ')[0] in THIRD_PARTY_EXCEPTIONS))
        .map((line) => `${process}: ${line}`);
    });
    expect(lint).toEqual([]);
  });

  test('every metric the dashboards and rules read is one the system exposes', () => {
    const names = exposed();
    const recorded = new Set(
      readRules()
        .filter((rule) => rule.kind === 'record')
        .map((rule) => rule.name),
    );
    const family = (name: string) => name.replace(/_(bucket|count|sum)$/, '');
    const read = new Set([
      ...dashboardFiles().flatMap((file) => dashboardQueries(file).flatMap((query) => metricsOf(query.expr))),
      ...readRules().flatMap((rule) => metricsOf(rule.expr)),
    ]);
    const unknown = [...read].filter(
      (name) =>
        name !== 'up' &&
        !recorded.has(name) &&
        !names.has(name) &&
        !names.has(family(name)) &&
        !(name in PENDING_METRICS),
    );
    expect(read.size).toBeGreaterThan(60);
    expect(unknown).toEqual([]);
  });

  test('no metric still listed as pending is exposed', () => {
    const names = exposed();
    const histogramNames = (name: string) => [name, `${name}_bucket`, `${name}_count`, `${name}_sum`];
    const landed = Object.keys(PENDING_METRICS).filter((name) => histogramNames(name).some((n) => names.has(n)));
    expect(landed).toEqual([]);
  });

  test('every dashboard variable resolves to values', async () => {
    const empty: string[] = [];
    let ran = 0;
    for (const file of dashboardFiles()) {
      const dashboard = readDashboard(file);
      for (const variable of labelVariables(dashboard)) {
        const selector = substitute(variable.selector, allValues(dashboard));
        ran++;
        const values = await api.labelValues(variable.label, selector, startS, endS);
        if (values.length === 0 && !isPending(selector))
          empty.push(`${dashboard.title} $${variable.name}: ${selector}`);
      }
    }
    process.stdout.write(`variables: ${ran} resolved through the API\n`);
    expect(empty).toEqual([]);
  });

  test('every dashboard query parses and returns data', async () => {
    const failed: string[] = [];
    const noData: string[] = [];
    const excused: string[] = [];
    let ran = 0;
    let withData = 0;
    for (const file of dashboardFiles()) {
      const dashboard = readDashboard(file);
      const values = allValues(dashboard);
      for (const query of dashboardQueries(file)) {
        const expr = substitute(query.expr, values);
        const where = `${query.dashboard} / ${query.panel} [${query.refId}]: ${expr}`;
        ran++;
        try {
          if (hasData(await api.queryRange(expr, startS, endS, STEP_S))) withData++;
          else if (isPending(expr)) excused.push(where);
          else noData.push(where);
        } catch (error) {
          failed.push(`${where}\n    ${(error as Error).message}`);
        }
      }
    }
    process.stdout.write(
      [
        `dashboard queries: ${ran} ran, ${withData} returned data, ${noData.length} returned none, ${failed.length} failed`,
        ...excused.map((where) => `  no data, metric pending: ${where}`),
        ...noData.map((where) => `  NO DATA: ${where}`),
        ...failed.map((where) => `  FAILED: ${where}`),
        '',
      ].join('\n'),
    );
    expect(failed).toEqual([]);
    expect(noData).toEqual([]);
    expect(withData + excused.length).toBe(ran);
  });

  test('every alert and recording rule expression parses', async () => {
    const failed: string[] = [];
    let withData = 0;
    const rules = readRules();
    for (const rule of rules) {
      try {
        if ((await api.queryInstant(rule.expr, endS)) > 0) withData++;
      } catch (error) {
        failed.push(`${rule.name}: ${(error as Error).message}`);
      }
    }
    process.stdout.write(
      `rule expressions: ${rules.length} ran (${rules.filter((r) => r.kind === 'alert').length} alerts, ` +
        `${rules.filter((r) => r.kind === 'record').length} recording rules), ${withData} returned series now, ${failed.length} failed\n`,
    );
    expect(failed).toEqual([]);
  });

  test('the overview picture draws its main panels from this run', async () => {
    const values = allValues(readDashboard('grapevine-overview.json'));
    const queries = dashboardQueries('grapevine-overview.json');
    const panels = [];
    for (const title of OVERVIEW_MAIN_PANELS) {
      const panelQueries = queries.filter((query) => query.panel === title);
      expect(panelQueries.length).toBeGreaterThan(0);
      const series = [];
      for (const query of panelQueries) {
        for (const s of await api.queryRange(substitute(query.expr, values), startS, endS, STEP_S)) {
          series.push({
            name: legendName(query.legend, s.metric),
            points: s.values
              .map(([t, v]) => [Math.round((t - startS) * 10) / 10, Number(v)] as const)
              .filter(([, v]) => Number.isFinite(v)),
          });
        }
      }
      panels.push({ title, unit: panelQueries[0].unit, series });
    }
    const data = join(tmp, 'overview-data.json');
    writeFileSync(data, JSON.stringify({ runSeconds: Math.round(endS - startS), panels }));
    const svg = await renderPicture(data);
    for (const title of OVERVIEW_MAIN_PANELS) expect(svg).toContain(title);
    // One line per series drawn, at least one per panel that had data.
    const drawn = panels.filter((panel) => panel.series.some((series) => series.points.length > 0)).length;
    expect((svg.match(/<path [^>]*aria-roledescription="line mark"/g) ?? []).length).toBeGreaterThanOrEqual(drawn);
    if (process.env.GRAPEVINE_WRITE_PICTURES === '1') {
      writeFileSync(join(ROOT, 'docs', 'dashboard-overview.svg'), svg);
      process.stdout.write('wrote docs/dashboard-overview.svg\n');
    }
  }, 60_000);

  /** Each variable at "All", and the interval variables for this run's range queries. */
  function allValues(dashboard: ReturnType<typeof readDashboard>): Record<string, string> {
    const values: Record<string, string> = {
      ...intervalVariables(STEP_S, DATASOURCE_SCRAPE_S, endS - startS),
      datasource: 'prometheus',
    };
    for (const variable of labelVariables(dashboard)) values[variable.name] = variable.allValue;
    return values;
  }

  function isPending(expr: string): boolean {
    return metricsOf(expr).some((name) =>
      Object.keys(PENDING_METRICS).some((pending) => name === pending || name.startsWith(`${pending}_`)),
    );
  }
});

/** Renders the overview picture in a child process (Vega is ESM-only, which jest cannot load). */
function renderPicture(dataFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(GRAPEVINE_COMMAND[0], ['--import', 'tsx', join(__dirname, 'render-overview.ts'), dataFile], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`render failed (${code}): ${err}`))));
  });
}
