/**
 * The in-chart Redis as the chart renders it, run for real: Debian's redis-server started with the
 * rendered arguments and the rendered Secret's files serves TLS and nothing else; the directory's
 * own Redis connection reaches it with the rendered CA file and the password; and the rendered
 * reload loop makes it present a renewed certificate with no restart. (That the certificate names
 * the Redis Service the directory dials is checked in tls.test.ts.)
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { REDIS_SERVER_BINARY, waitUntilReady } from '../support/redis-server';
import { startTestDirectory } from '../support/directory';
import { freePort } from '../support/free-port';
import { checkHealth } from '../support/grpc-probes';
import { waitUntil } from '../support/hosts';
import { generateIdentity, signed } from '../support/records';
import { K8sObject, TLS_DIR, component, ensureHelm, ofKind, template } from './helm';

const PASSWORD = 'rendered-redis-password';

/** The Redis StatefulSet's two containers and the TLS Secret's three files, from one render. */
function render(): { server: any; reload: any; files: Record<string, string> } {
  const objects = template('helm4');
  const redis = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'redis')!;
  const [server, reload] = redis.spec.template.spec.containers;
  const secret: K8sObject = ofKind(objects, 'Secret').find((s) => s.type === 'kubernetes.io/tls')!;
  const files = Object.fromEntries(
    ['tls.crt', 'tls.key', 'ca.crt'].map((key) => [key, Buffer.from(secret.data[key], 'base64').toString('utf8')]),
  );
  return { server, reload, files };
}

/** Writes the files as the kubelet updates a mounted Secret: each appears whole, at once. */
function writeSecret(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, `.${name}.new`), text, { mode: 0o600 });
    renameSync(join(dir, `.${name}.new`), join(dir, name));
  }
}

/** The certificate a TLS server on `port` presents, as the base64 of its DER (a PEM's body). */
function servedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(raw.toString('base64'));
    });
    socket.on('error', reject);
  });
}

/** Whether a plaintext Redis client gets an answer to PING on `port`. */
function answersPlaintext(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(/^\+PONG|^-NOAUTH/.test(data.toString()));
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

const pemBody = (pem: string) => pem.replace(/-----[^-]+-----|\s/g, '');

describe('the in-chart Redis, run as rendered', () => {
  let dir: string;
  let port: number;
  let redis: ChildProcess;
  let first: ReturnType<typeof render>;
  const local = (arg: string) =>
    arg
      .replaceAll(TLS_DIR, dir)
      .replace(/^\/data$/, dir)
      .replace('$(REDIS_PASSWORD)', PASSWORD);

  beforeAll(async () => {
    ensureHelm();
    dir = mkdtempSync(join(tmpdir(), 'grapevine-chart-redis-'));
    port = await freePort();
    first = render();
    writeSecret(dir, first.files);
    const args = (first.server.args as string[]).map(local);
    args[args.indexOf('--tls-port') + 1] = String(port);
    redis = spawn(REDIS_SERVER_BINARY, ['--bind', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitUntilReady(redis, 10_000, port);
  }, 120_000);

  afterAll(async () => {
    redis?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves TLS only, with the rendered certificate', async () => {
    expect(await servedCertificate(port)).toBe(pemBody(first.files['tls.crt']));
    expect(await answersPlaintext(port)).toBe(false);
  });

  it('takes the directory, which trusts it through the rendered CA file', async () => {
    const t = await startTestDirectory({
      redisUrl: `rediss://:${PASSWORD}@127.0.0.1:${port}/0`,
      redisTlsCaFile: join(dir, 'ca.crt'),
    });
    try {
      await waitUntil(async () => (await checkHealth(t.address)) === 'SERVING', 10_000, 'health SERVING');
      const alice = generateIdentity();
      await t.client.register(signed(alice, { name: 'alice' }), 10);
      expect((await t.client.resolve('default', { name: 'alice' })).record.peerId).toBe(alice.peerId);
    } finally {
      await t.stop();
    }
  });

  it('presents a renewed certificate once the reload loop runs, with no restart', async () => {
    const renewed = render();
    expect(pemBody(renewed.files['tls.crt'])).not.toBe(pemBody(first.files['tls.crt']));
    writeSecret(dir, renewed.files);
    const script = local(renewed.reload.args[0]).replace('sleep 60', 'sleep 0.2').replace('-p 6379', `-p ${port}`);
    const loop = spawn('sh', ['-c', script], { env: { ...process.env, REDISCLI_AUTH: PASSWORD }, stdio: 'ignore' });
    try {
      await waitUntil(
        async () => (await servedCertificate(port)) === pemBody(renewed.files['tls.crt']),
        10_000,
        'Redis to present the renewed certificate',
      );
      expect(redis.exitCode).toBeNull();
    } finally {
      loop.kill('SIGKILL');
    }
  });
});
