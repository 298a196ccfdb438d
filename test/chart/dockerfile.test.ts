/**
 * deploy/Dockerfile, without a Docker engine: dockerfile-utils (the linter behind the Dockerfile
 * language server) with every check an error, then the rules the image promises, by reading it.
 */
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DIRECTORY_GRPC_PORT, DEFAULT_DIRECTORY_METRICS_PORT } from '../../services/directory/config';
import { DEFAULT_HOST_GRPC_PORT, DEFAULT_HOST_METRICS_PORT } from '../../services/host/config';
import { DEFAULT_INTRODUCER_GRPC_PORT, DEFAULT_INTRODUCER_METRICS_PORT } from '../../services/introducer/config';
import { chartNodeFlags, imageEnv } from '../support/image-env';
import { REPO_ROOT } from './helm';

const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** Instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const result: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = index + 1;
    if (line.startsWith('#')) return;
    pending += line.endsWith('\\') ? `${line.slice(0, -1)} ` : line;
    if (!line.endsWith('\\')) {
      const [keyword, ...rest] = pending.split(/\s+/);
      result.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: start });
      pending = '';
    }
  });
  return result;
}

const all = instructions(dockerfile);
const stages: Instruction[][] = [];
for (const instruction of all) {
  if (instruction.keyword === 'FROM') stages.push([]);
  stages.at(-1)?.push(instruction);
}
const finalStage = stages.at(-1)!;
const globalArgs = new Map(
  all
    .slice(
      0,
      all.findIndex((i) => i.keyword === 'FROM'),
    )
    .filter((i) => i.keyword === 'ARG')
    .map((i) => {
      const [name, value = ''] = i.args.split('=');
      return [name, value] as const;
    }),
);

test('dockerfile-utils finds nothing, with every check raised to an error', () => {
  const error = ValidationSeverity.ERROR;
  const diagnostics = validate(dockerfile, {
    deprecatedMaintainer: error,
    directiveCasing: error,
    emptyContinuationLine: error,
    instructionCasing: error,
    instructionCmdMultiple: error,
    instructionEntrypointMultiple: error,
    instructionHealthcheckMultiple: error,
    instructionJSONInSingleQuotes: error,
    instructionWorkdirRelative: error,
  });
  expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
});

test('the linter would catch a broken Dockerfile (the check can fail)', () => {
  expect(validate('FROM node:20\nEXPOSE port\nFROOM x\n').length).toBeGreaterThanOrEqual(2);
});

test('is multi-stage, and every base image is pinned by version or digest', () => {
  expect(stages.length).toBeGreaterThanOrEqual(2);
  for (const stage of stages) {
    const image = stage[0].args.split(/\s+/)[0];
    const resolved = image.replace(/\$\{?(\w+)\}?/g, (_all, name: string) => globalArgs.get(name) ?? '');
    expect({ image, resolved, pinned: /@sha256:[a-f0-9]{64}$|:\d+\.\d+\.\d+[-\w.]*$/.test(resolved) }).toEqual({
      image,
      resolved,
      pinned: true,
    });
    expect(resolved).not.toMatch(/:latest\b/);
  }
});

test('the runtime stage has production dependencies only, from a stage that left dev ones out', () => {
  const copies = finalStage.filter((i) => i.keyword === 'COPY' && i.args.includes('node_modules'));
  expect(copies).toHaveLength(1);
  const from = /--from=(\S+)/.exec(copies[0].args)![1];
  const source = stages.find((stage) => stage[0].args.endsWith(` AS ${from}`))!;
  const install = source.filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
  expect(install).toHaveLength(1);
  expect(install[0].args).toMatch(/--omit=dev/);
  for (const run of all.filter((i) => i.keyword === 'RUN')) {
    expect(run.args).not.toMatch(/\bnpm (install|i)\b/);
    if (/\bnpm ci\b/.test(run.args)) expect(run.args).toMatch(/--ignore-scripts/);
  }
});

test('runs as a fixed unprivileged user, with grapevine as the entrypoint and the role as its argument', () => {
  const users = finalStage.filter((i) => i.keyword === 'USER');
  expect(users.length).toBeGreaterThan(0);
  const [uid, gid] = users.at(-1)!.args.split(':').map(Number);
  expect(uid).toBeGreaterThan(0);
  expect(gid).toBeGreaterThan(0);
  // The chart's securityContext repeats the uid.
  const helpers = readFileSync(join(REPO_ROOT, 'charts', 'grapevine', 'templates', '_helpers.tpl'), 'utf8');
  expect(helpers).toContain(`runAsUser: ${uid}`);
  expect(finalStage.filter((i) => i.keyword === 'ENTRYPOINT').map((i) => JSON.parse(i.args))).toEqual([['grapevine']]);
  expect(finalStage.some((i) => i.keyword === 'CMD')).toBe(true);
});

test('writes nowhere but the data directory, which the chart mounts', () => {
  const run = finalStage
    .filter((i) => i.keyword === 'RUN')
    .map((i) => i.args)
    .join(' ');
  const owned = [...run.matchAll(/install -d -o (\d+) -g (\d+) -m \d+ (\S+)/g)];
  expect(owned.map((match) => match[3])).toEqual(['/var/lib/grapevine']);
  // The code stays root's and nobody else may write to it.
  expect(run).not.toMatch(/\bchown\b/);
  expect(run).not.toMatch(/chmod\s+(0?[0-7]{2}[2367]\b|\S*[oa]\+\w*w)/);
  expect(finalStage.filter((i) => i.keyword === 'COPY' && /--chown|--chmod/.test(i.args))).toEqual([]);
  const statefulset = readFileSync(
    join(REPO_ROOT, 'charts', 'grapevine', 'templates', 'host-statefulset.yaml'),
    'utf8',
  );
  expect(statefulset).toContain('mountPath: /var/lib/grapevine');
});

test('carries the OCI image-spec labels', () => {
  const labels = finalStage
    .filter((i) => i.keyword === 'LABEL')
    .map((i) => i.args)
    .join(' ');
  for (const key of ['title', 'description', 'version', 'revision', 'created', 'licenses', 'base.name']) {
    expect(labels).toMatch(new RegExp(`org\\.opencontainers\\.image\\.${key.replace('.', '\\.')}=`));
  }
});

test('exposes the default ports of every role', () => {
  const exposed = finalStage
    .filter((i) => i.keyword === 'EXPOSE')
    .flatMap((i) => i.args.split(/\s+/))
    .map(Number)
    .sort();
  expect(exposed).toEqual(
    [
      DEFAULT_DIRECTORY_GRPC_PORT,
      DEFAULT_DIRECTORY_METRICS_PORT,
      DEFAULT_INTRODUCER_GRPC_PORT,
      DEFAULT_INTRODUCER_METRICS_PORT,
      DEFAULT_HOST_GRPC_PORT,
      DEFAULT_HOST_METRICS_PORT,
    ].sort(),
  );
});

test('the runtime preloads jemalloc, installed pinned in the same stage, so a burst does not leave RSS behind', () => {
  const env = imageEnv(dockerfile);
  expect(env.NODE_ENV).toBe('production');
  expect(env.LD_PRELOAD).toBe('libjemalloc.so.2');
  const installs = finalStage.filter((i) => i.keyword === 'RUN' && /\bapt-get install\b/.test(i.args));
  expect(installs).toHaveLength(1);
  expect(installs[0].args).toMatch(/--no-install-recommends libjemalloc2=\d[\w.~+-]*/);
  expect(installs[0].args).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  // Only the runtime stage's ENV counts: a build stage's would not reach the image's processes.
  expect(imageEnv('FROM a AS build\nENV X=1\nFROM b\nENV Y=2 \\\n    Z=3\n')).toEqual({ Y: '2', Z: '3' });
});

test("benches start each role with the chart's heap limit, read from the chart's values", () => {
  expect(chartNodeFlags('directory')).toEqual([expect.stringMatching(/^--max-old-space-size=\d+$/)]);
  expect(chartNodeFlags('host', 'hosts:\n  maxHeapMiB: 200\n')).toEqual(['--max-old-space-size=200']);
  expect(chartNodeFlags('introducer', 'introducer:\n  maxHeapMiB: 0\n')).toEqual([]);
  expect(chartNodeFlags('keygen')).toEqual([]);
});

test('holds no secret: no secret-looking variable, no ADD from anywhere, no key or credential file copied', () => {
  for (const instruction of all.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
    expect(instruction.args).not.toMatch(/(PASSWORD|TOKEN|SECRET|API_?KEY|CREDENTIAL)\w*=/i);
  }
  expect(all.filter((i) => i.keyword === 'ADD')).toEqual([]);
  for (const copy of all.filter((i) => i.keyword === 'COPY')) {
    expect(copy.args).not.toMatch(/\.env\b|\.pem\b|\.key\b|id_rsa|\.npmrc|\.git\b/);
  }
});

test('.dockerignore lets in only what the build copies from the context', () => {
  const lines = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  expect(lines[0]).toBe('*');
  const allowed = lines.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
  const contextSources = all
    .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
    .flatMap((i) =>
      i.args
        .split(/\s+/)
        .filter((part) => !part.startsWith('--'))
        .slice(0, -1),
    )
    .map((source) => source.replace(/^\.\//, '').replace(/\/$/, ''));
  expect(contextSources.length).toBeGreaterThan(0);
  for (const source of contextSources) expect(allowed).toContain(source);
  expect(lines).toContain('services/**/*.test.ts');
});
