/**
 * The directory on a real redis-server that speaks TLS: a rediss:// URL with the CA that signed
 * the server's certificate works end to end; without that CA the directory does not trust the
 * server (NOT_SERVING, UNAVAILABLE) and writes nothing; a CA file rotated while it runs is trusted
 * from the next reconnect on; contradictory settings are refused.
 */
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { ConfigError } from '../../services/common/config';
import { directoryConfigSchema } from '../../services/directory/config';
import { makeTestCa, type TestCa } from '../support/certs';
import { codeOf, startTestDirectory } from '../support/directory';
import { freePort } from '../support/free-port';
import { checkHealth } from '../support/grpc-probes';
import { waitUntil } from '../support/hosts';
import { generateIdentity, signed } from '../support/records';
import { startRedisServer, type RedisServer } from '../support/redis-server';

describe('the directory on Redis over TLS', () => {
  let ca: TestCa;
  let redis: RedisServer;
  let tlsUrl: string;
  /** A plaintext client on the same server's other port, to look at what the directory wrote. */
  let admin: Redis;

  beforeAll(async () => {
    ca = makeTestCa();
    const { certFile, keyFile } = ca.issue('redis');
    const tlsPort = await freePort();
    redis = await startRedisServer({
      extraArgs: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certFile,
        '--tls-key-file',
        keyFile,
        '--tls-ca-cert-file',
        ca.caFile,
        '--tls-auth-clients',
        'no',
      ],
    });
    tlsUrl = `rediss://127.0.0.1:${tlsPort}`;
    admin = new Redis(redis.url);
  });

  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
    ca?.remove();
  });

  afterEach(async () => {
    await admin.flushall();
  });

  it('registers and resolves through rediss:// with the CA that signed the server', async () => {
    const t = await startTestDirectory({ redisUrl: tlsUrl, redisTlsCaFile: ca.caFile });
    try {
      await waitUntil(async () => (await checkHealth(t.address)) === 'SERVING', 10_000, 'health SERVING');
      const alice = generateIdentity();
      await t.client.register(signed(alice, { name: 'alice' }), 10);
      const peer = await t.client.resolve('default', { name: 'alice' });
      expect(peer.record.peerId).toBe(alice.peerId);
      // The write went to this server (through its TLS port).
      expect(await admin.dbsize()).toBeGreaterThan(0);
    } finally {
      await t.stop();
    }
  });

  it('does not trust a server whose CA it was not given: NOT_SERVING, UNAVAILABLE, nothing written', async () => {
    const t = await startTestDirectory({ redisUrl: tlsUrl });
    try {
      expect(await checkHealth(t.address)).toBe('NOT_SERVING');
      const error = await t.client.register(signed(generateIdentity()), 10).catch((e: unknown) => e);
      expect((error as { code?: number }).code).toBe(status.UNAVAILABLE);
      expect((error as Error).message).toMatch(/Redis at 127\.0\.0\.1:\d+ is unreachable/);
      expect(await codeOf(t.client.resolve('default', { name: 'alice' }))).toBe('UNAVAILABLE');
      expect(await admin.dbsize()).toBe(0);
    } finally {
      await t.stop();
    }
  });

  it('reads its CA file again at each connection: a rotated CA needs no restart, a missing file keeps the last', async () => {
    const caFile = join(ca.dir, 'directory-ca.crt');
    copyFileSync(ca.caFile, caFile);
    const next = makeTestCa('grapevine-test-ca-next');
    const t = await startTestDirectory({ redisUrl: tlsUrl, redisTlsCaFile: caFile });
    const health = () => checkHealth(t.address);
    // Cuts the directory's connections (not this one): it connects again, and reads the CA then.
    const reconnect = () => admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    const serving = (what: string) => waitUntil(async () => (await health()) === 'SERVING', 10_000, what);
    try {
      await serving('health SERVING on the first CA');

      // The file gone (mid-rotation, say): the CA read before still holds.
      rmSync(caFile);
      await reconnect();
      await serving('health SERVING again on the CA read before');

      // Redis moves to a certificate from another CA: the old CA cannot verify it.
      const { certFile, keyFile } = next.issue('redis');
      await admin.call('CONFIG', 'SET', 'tls-cert-file', certFile, 'tls-key-file', keyFile);
      copyFileSync(ca.caFile, caFile);
      await reconnect();
      await waitUntil(async () => (await health()) === 'NOT_SERVING', 10_000, 'NOT_SERVING on the old CA');

      // The new CA lands in the file: the next reconnect trusts it, with no restart.
      copyFileSync(next.caFile, caFile);
      await serving('health SERVING on the rotated CA');
      const alice = generateIdentity();
      await t.client.register(signed(alice, { name: 'alice' }), 10);
      expect((await t.client.resolve('default', { name: 'alice' })).record.peerId).toBe(alice.peerId);
    } finally {
      await t.stop();
      const { certFile, keyFile } = ca.issue('redis');
      await admin.call('CONFIG', 'SET', 'tls-cert-file', certFile, 'tls-key-file', keyFile);
      next.remove();
    }
  });

  it('refuses a CA file without a rediss:// URL, and a CA file it cannot read', async () => {
    const plain = directoryConfigSchema.safeParse({ redisUrl: redis.url, redisTlsCaFile: ca.caFile });
    expect(plain.success).toBe(false);
    expect(plain.error?.issues.map((i) => i.message).join('\n')).toMatch(
      /redisTlsCaFile is set but redisUrl is not a rediss:\/\/ URL/,
    );
    await expect(startTestDirectory({ redisUrl: tlsUrl, redisTlsCaFile: '/nonexistent/ca.crt' })).rejects.toThrow(
      ConfigError,
    );
    await expect(startTestDirectory({ redisUrl: tlsUrl, redisTlsCaFile: '/nonexistent/ca.crt' })).rejects.toThrow(
      /cannot read redisTlsCaFile \/nonexistent\/ca\.crt/,
    );
  });
});
