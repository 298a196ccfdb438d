/**
 * The Directory as a server: health, reflection, metrics, requests that are not protobuf at all,
 * and Redis going away and coming back.
 */
import { ChannelCredentials, Client, ServiceError, status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryServiceClient } from '../../services/gen/grapevine/v1/directory';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { TestDirectory, startTestDirectory } from '../support/directory';
import { checkHealth, listServicesByReflection } from '../support/grpc-probes';
import { generateIdentity, signed } from '../support/records';

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Watch streams the directory holds open, from its /metrics. */
async function watcherCount(t: TestDirectory): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${t.directory.metricsPort}/metrics`)).text();
  return Number(/^grapevine_directory_watchers (\S+)$/m.exec(text)?.[1]);
}

/** The watchers gauge once it says `n`, or what it says after 10 s. */
function watchersOnceAt(t: TestDirectory, n: number): Promise<number> {
  return eventually(
    () => watcherCount(t),
    (count) => count === n,
  );
}

describe('Directory server', () => {
  let t: TestDirectory;
  afterEach(async () => {
    await t?.stop();
  });

  test('serves grpc.health.v1 and reflection for its service', async () => {
    t = await startTestDirectory();
    expect(await checkHealth(t.address)).toBe('SERVING');
    expect(await checkHealth(t.address, 'grapevine.v1.DirectoryService')).toBe('SERVING');
    expect(await listServicesByReflection(t.address)).toEqual(
      expect.arrayContaining(['grapevine.v1.DirectoryService', 'grpc.health.v1.Health']),
    );
    // Servers of one process share one reflection service; a second answers as well.
    const second = await startTestDirectory();
    try {
      expect(await listServicesByReflection(second.address)).toEqual(
        expect.arrayContaining(['grapevine.v1.DirectoryService', 'grpc.health.v1.Health']),
      );
      expect(await listServicesByReflection(t.address)).toContain('grapevine.v1.DirectoryService');
    } finally {
      await second.stop();
    }
  });

  test('a request that is not a protobuf message answers INVALID_ARGUMENT, and the server goes on', async () => {
    t = await startTestDirectory();
    const raw = new Client(t.address, ChannelCredentials.createInsecure());
    const code = await new Promise<number>((resolve) =>
      raw.makeUnaryRequest(
        '/grapevine.v1.DirectoryService/Register',
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from([0xff, 0xff, 0xff, 0xff]),
        (error: ServiceError | null) => resolve(error?.code ?? status.OK),
      ),
    );
    raw.close();
    expect(status[code]).toBe('INVALID_ARGUMENT');
    expect((await t.client.register(signed(generateIdentity()))).leaseId).toBeTruthy();
  });

  test('/metrics has the gRPC server metrics and grapevine_directory_* metrics', async () => {
    t = await startTestDirectory();
    await t.client.register(signed(generateIdentity()));
    await t.client.renew('default.unknown').catch(() => undefined);
    const text = await (await fetch(`http://127.0.0.1:${t.directory.metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="grapevine.v1.DirectoryService",grpc_method="Register",grpc_code="OK"\} 1/,
    );
    expect(text).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="Renew",grpc_code="NotFound"\} 1/);
    expect(text).toMatch(/grpc_server_handling_seconds_bucket\{[^}]*grpc_method="Register"/);
    expect(text).toMatch(/grapevine_directory_peers\{network="default"\} 1/);
    expect(text).toMatch(/grapevine_directory_registrations_total\{outcome="ok"\} 1/);
    expect(text).toMatch(/grapevine_directory_renewals_total\{outcome="not_found"\} 1/);
    expect(text).toMatch(/process_cpu_seconds_total/);
  });

  test('a Watch cancelled by its client frees its place, however early the cancel is sent', async () => {
    t = await startTestDirectory();
    const client = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
    try {
      // Cancelled at once while the channel connects (the request and the cancel may reach the
      // server together), and after the stream has answered. (On a connected channel grpc-js
      // sends a call cancelled in the tick it was made and never its cancel: the next test.)
      for (let i = 0; i < 50; i++)
        client
          .watch({ network: 'default', fromRevision: 0 })
          .on('error', () => {})
          .cancel();
      const answered = Array.from({ length: 50 }, () => client.watch({ network: 'default', fromRevision: 0 }));
      await Promise.all(answered.map((call) => new Promise((resolve) => call.once('data', resolve))));
      expect(await watcherCount(t)).toBeGreaterThanOrEqual(50);
      for (const call of answered) call.on('error', () => {}).cancel();
      expect(await watchersOnceAt(t, 0)).toBe(0);
    } finally {
      client.close();
    }
  });

  test('a Watch ends with OK once it has lived watchMaxLifetimeMs, freeing the place of a client that lost its cancel', async () => {
    t = await startTestDirectory({ watchMaxLifetimeMs: 600 });
    const client = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
    try {
      const kept = client.watch({ network: 'default', fromRevision: 0 });
      await new Promise((resolve) => kept.once('data', resolve));
      const started = Date.now();
      kept.on('error', () => {});
      const ended = new Promise<number>((resolve) => kept.on('status', ({ code }) => resolve(code)));
      // Cancelled in the tick they were made, on a connected channel: grpc-js 1.14.7 sends these
      // calls and never their cancel, so only their lifetime ends them on the directory.
      for (let i = 0; i < 20; i++)
        client
          .watch({ network: 'default', fromRevision: 0 })
          .on('error', () => {})
          .cancel();
      expect(await ended).toBe(status.OK);
      // Between half the lifetime and all of it (and the time this thread took to notice).
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(await watchersOnceAt(t, 0)).toBe(0);
    } finally {
      client.close();
    }
  });

  describe('with Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer();
    });
    afterAll(async () => {
      await redis.stop();
    });

    test('/metrics counts record updates, evictions, and each Redis command with its failures', async () => {
      t = await startTestDirectory({ redisUrl: redis.url, introducerToken: 'token', sweepIntervalMs: 20 });
      const peer = generateIdentity();
      await t.client.register(signed(peer, { seq: 1 }));
      await t.client.updateRecord(signed(peer, { seq: 2 }));
      await t.client.updateRecord(signed(generateIdentity(), { seq: 2 })).catch(() => undefined);
      await t.client.evict('default', peer.peerId, 2, '').catch(() => undefined);
      await t.client.evict('default', peer.peerId, 1, 'token').catch(() => undefined);
      await t.client.evict('default', peer.peerId, 2, 'token');
      await t.client.resolve('default', { peerId: peer.peerId }).catch(() => undefined);
      // A key of the wrong type makes the register script fail with an error reply.
      const admin = new Redis(redis.url);
      await admin.set('gv:{broken}:deadlines', 'not a sorted set');
      const failed = await t.client
        .register(signed(generateIdentity(), { network: 'broken' }))
        .catch((error: ServiceError) => status[error.code]);
      await admin.flushall();
      admin.disconnect();
      expect(failed).toBe('UNKNOWN');

      const scrape = async () => (await fetch(`http://127.0.0.1:${t.directory.metricsPort}/metrics`)).text();
      // The sweeper's script shows up within a few sweeps.
      const text = await eventually(scrape, (body) =>
        body.includes('redis_command_duration_seconds_count{command="sweep"}'),
      );
      expect(text).toMatch(/grapevine_directory_record_updates_total\{outcome="ok"\} 1\n/);
      expect(text).toMatch(/grapevine_directory_record_updates_total\{outcome="not_found"\} 1\n/);
      expect(text).toMatch(/grapevine_directory_evictions_total\{outcome="unauthenticated"\} 1\n/);
      expect(text).toMatch(/grapevine_directory_evictions_total\{outcome="failed_precondition"\} 1\n/);
      expect(text).toMatch(/grapevine_directory_evictions_total\{outcome="ok"\} 1\n/);
      const count = (command: string) =>
        Number(
          new RegExp(`grapevine_directory_redis_command_duration_seconds_count\\{command="${command}"\\} (\\d+)`).exec(
            text,
          )?.[1],
        );
      expect(count('register')).toBe(2);
      expect(count('update')).toBe(2);
      expect(count('evict')).toBe(2);
      expect(count('get')).toBeGreaterThanOrEqual(1);
      expect(count('sweep')).toBeGreaterThanOrEqual(1);
      expect(count('ping')).toBeGreaterThanOrEqual(1);
      expect(text).toMatch(/grapevine_directory_redis_errors_total\{command="register"\} 1\n/);
      expect(text).toMatch(/grapevine_directory_redis_errors_total\{command="renew"\} 0\n/);
    });

    test('a Watch from now, cancelled while the directory asks Redis where now is, frees its place', async () => {
      t = await startTestDirectory({ redisUrl: redis.url });
      const admin = new Redis(redis.url);
      const client = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
      try {
        // Redis answers nothing for 600 ms: each Watch waits on the revision it starts from.
        await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
        const calls = Array.from({ length: 10 }, () => client.watch({ network: 'default' }).on('error', () => {}));
        await new Promise((resolve) => setTimeout(resolve, 200));
        for (const call of calls) call.cancel();
        await new Promise((resolve) => setTimeout(resolve, 700));
        expect(await watchersOnceAt(t, 0)).toBe(0);
      } finally {
        client.close();
        admin.disconnect();
      }
    });

    test('watches that Redis going away ended, or that began while it was away, free their places', async () => {
      t = await startTestDirectory({ redisUrl: redis.url });
      const client = new DirectoryServiceClient(t.address, ChannelCredentials.createInsecure());
      const open = (n: number) =>
        Array.from({ length: n }, () => {
          const call = client.watch({ network: 'default', fromRevision: 0 });
          const ended = new Promise<string>((resolve) => {
            call.on('error', (error: ServiceError) => resolve(status[error.code]));
            call.on('end', () => resolve('END'));
          });
          call.on('data', () => {});
          return ended;
        });
      try {
        const before = open(20);
        await watchersOnceAt(t, 20);
        await redis.kill();
        const during = open(30);
        const codes = await Promise.all([...before, ...during]);
        expect(codes.filter((code) => code !== 'UNAVAILABLE')).toEqual([]);
        expect(await watchersOnceAt(t, 0)).toBe(0);
      } finally {
        client.close();
        await redis.restart();
      }
    });

    test('Redis down: UNAVAILABLE and NOT_SERVING; Redis back: serving again, and the server never crashed', async () => {
      t = await startTestDirectory({ redisUrl: redis.url });
      const peer = generateIdentity();
      await t.client.register(signed(peer, { seq: 1 }));

      await redis.kill();
      const code = await eventually(
        () =>
          t.client.resolve('default', { peerId: peer.peerId }).then(
            () => 'OK',
            (error: ServiceError) => status[error.code],
          ),
        (value) => value === 'UNAVAILABLE',
      );
      expect(code).toBe('UNAVAILABLE');
      expect(
        await eventually(
          () => checkHealth(t.address),
          (value) => value === 'NOT_SERVING',
        ),
      ).toBe('NOT_SERVING');

      await redis.restart();
      expect(
        await eventually(
          () => checkHealth(t.address),
          (value) => value === 'SERVING',
        ),
      ).toBe('SERVING');
      // The store came back empty: the peer registers again and is found.
      const again = await eventually(
        () =>
          t.client.register(signed(peer, { seq: 2 })).then(
            () => 'OK',
            (error: ServiceError) => status[error.code],
          ),
        (value) => value === 'OK',
      );
      expect(again).toBe('OK');
      expect((await t.client.resolve('default', { peerId: peer.peerId })).record.seq).toBe(2);
    });
  });
});
