/**
 * RegisterBatch over real gRPC against a real redis-server, and the RegistrationBatcher that
 * introducers register through: each entry is a Register of its own (one refused leaves the
 * others, and leaves the store as it was for itself), calls are bounded by entries and by bytes,
 * and a directory without RegisterBatch still gets every registration.
 */
import { Server, ServerCredentials, ServiceError, status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryClient } from '../../services/client/directory-client';
import { RegistrationBatcher } from '../../services/client/registration-batcher';
import { MAX_REGISTER_BATCH } from '../../services/common/limits';
import { openRecord, type SignedRecord } from '../../services/common/records';
import {
  DirectoryServiceService,
  type RegisterRequest,
  type RegisterResponse,
  type RegisterResult,
} from '../../services/gen/grapevine/v1/directory';
import { TestDirectory, codeOf, snapshot, startTestDirectory } from '../support/directory';
import { freePort } from '../support/free-port';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { generateIdentity, signed } from '../support/records';

const codeName = (result: RegisterResult): string =>
  result.outcome?.$case === 'error' ? status[result.outcome.value.code] : 'OK';

/** Rejections of a batcher's registrations, by gRPC code name ("OK" when it resolved). */
async function settled(calls: Promise<RegisterResponse>[]): Promise<string[]> {
  return Promise.all(calls.map((call) => codeOf(call)));
}

describe('RegisterBatch', () => {
  let redis: RedisServer;
  let t: TestDirectory;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });
  beforeEach(async () => {
    t = await startTestDirectory({ redisUrl: redis.url, registrationsPerSourcePerSecond: 20 });
  });
  afterEach(async () => {
    await t.stop();
    const admin = new Redis(redis.url);
    await admin.flushall();
    admin.disconnect();
  });

  test('answers each entry in order as Register would, and writes only the accepted ones', async () => {
    const [fresh, held, forged, named, rival, late] = Array.from({ length: 6 }, () => generateIdentity());
    await t.client.register(signed(held, { seq: 5 }), 10);
    await t.client.register(signed(named, { name: 'web' }), 10);
    const before = await snapshot(t);
    const tampered = signed(forged);
    tampered.signature[0] ^= 1;

    const entries: RegisterRequest[] = [
      { record: signed(fresh), ttlSeconds: 10 },
      { record: signed(held, { seq: 4 }), ttlSeconds: 10 },
      { record: tampered, ttlSeconds: 10 },
      { record: signed(rival, { name: 'web' }), ttlSeconds: 10 },
      { record: signed(late, { seq: 2, withdrawn: true, addresses: [] }), ttlSeconds: 10 },
      { record: signed(late), ttlSeconds: 999_999 },
      { record: undefined, ttlSeconds: 10 },
    ];
    const results = await t.client.registerBatch(entries);

    expect(results.map(codeName)).toEqual([
      'OK',
      'FAILED_PRECONDITION',
      'PERMISSION_DENIED',
      'ALREADY_EXISTS',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
      'INVALID_ARGUMENT',
    ]);
    // Each refusal says what to do, as Register's would.
    const messages = results.map((r) => (r.outcome?.$case === 'error' ? r.outcome.value.message : ''));
    expect(messages[1]).toMatch(/seq 4 is not above seq 5/);
    expect(messages[3]).toMatch(/name web .* is held by live peer/);
    expect(messages[5]).toMatch(/ttl_seconds 999999 is outside/);

    const after = await snapshot(t);
    expect(after.peers.map((p) => p.id).sort()).toEqual([...before.peers.map((p) => p.id), fresh.peerId].sort());
    expect(after.revision).toBe(before.revision + 1);
    const lease = results[0].outcome?.$case === 'registered' ? results[0].outcome.value : undefined;
    expect(await t.client.renew(lease!.leaseId)).toBe(10);
  });

  test(`more than ${MAX_REGISTER_BATCH} entries are refused whole, naming the limit`, async () => {
    const before = await snapshot(t);
    const entries = Array.from({ length: MAX_REGISTER_BATCH + 1 }, () => ({
      record: signed(generateIdentity()),
      ttlSeconds: 10,
    }));
    const call = t.client.registerBatch(entries);
    await expect(call).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(call).rejects.toThrow(/257 entries are more than the 256/);
    expect(await snapshot(t)).toEqual(before);
    expect(await t.client.registerBatch([])).toEqual([]);
  });

  test('a caller without the introducer token spends one registration of its limit per entry', async () => {
    const entries = Array.from({ length: 60 }, () => ({ record: signed(generateIdentity()), ttlSeconds: 10 }));
    const codes = (await t.client.registerBatch(entries)).map(codeName);
    // The limit is 20 a second with a burst of twice that: the rest are refused, each on its own.
    expect(codes.filter((c) => c === 'OK').length).toBeGreaterThanOrEqual(40);
    expect(codes.filter((c) => c === 'RESOURCE_EXHAUSTED').length).toBeGreaterThan(0);
    expect(codes.every((c) => c === 'OK' || c === 'RESOURCE_EXHAUSTED')).toBe(true);
    expect((await snapshot(t)).peers).toHaveLength(codes.filter((c) => c === 'OK').length);
  });
});

describe('RegistrationBatcher', () => {
  let redis: RedisServer;
  let t: TestDirectory;
  let client: DirectoryClient;

  beforeAll(async () => {
    redis = await startRedisServer();
    t = await startTestDirectory({ redisUrl: redis.url, introducerToken: 'batch-token' });
    client = new DirectoryClient(t.address, { introducerToken: 'batch-token', deadlineMs: 3_000 });
  });
  afterAll(async () => {
    client.close();
    await t.stop();
    await redis.stop();
  });

  test('registrations that arrive while a call is out share the next one; each settles on its own', async () => {
    const calls: number[] = [];
    const batcher = new RegistrationBatcher(client, (entries) => calls.push(entries));
    const stale = generateIdentity();
    await client.register(signed(stale, { seq: 9 }), 10);
    const records: SignedRecord[] = Array.from({ length: 60 }, () => signed(generateIdentity()));
    records[17] = signed(stale, { seq: 3 });

    const codes = await settled(records.map((record) => batcher.register(record, 10)));

    expect(codes.filter((c) => c !== 'OK')).toEqual(['FAILED_PRECONDITION']);
    expect(codes[17]).toBe('FAILED_PRECONDITION');
    expect(calls.reduce((a, b) => a + b, 0)).toBe(60);
    // The first leaves alone, at once; the rest waited for it and went together.
    expect(calls[0]).toBe(1);
    expect(calls.length).toBeLessThan(10);
    for (const record of records.filter((_, i) => i !== 17)) {
      const { peerId, seq } = openRecord(record);
      expect((await client.resolve('default', { peerId })).record.seq).toBe(seq);
    }
  });

  test('a call holds no more bytes than a server accepts', async () => {
    const calls: number[] = [];
    const batcher = new RegistrationBatcher(client, (entries) => calls.push(entries));
    // Records of about 3.7 KiB (many long labels): eighteen of them are more than one 64 KiB call.
    const labels = Object.fromEntries(
      Array.from({ length: 28 }, (_, i) => [`label-${i}-`.padEnd(63, 'k'), 'v'.repeat(63)]),
    );
    const records = Array.from({ length: 41 }, () => signed(generateIdentity(), { labels }));
    expect(records[0].record.length).toBeGreaterThan(3_600);

    const codes = await settled(records.map((record) => batcher.register(record, 10)));

    expect(codes.every((c) => c === 'OK')).toBe(true);
    expect(calls.reduce((a, b) => a + b, 0)).toBe(41);
    expect(Math.max(...calls)).toBeLessThan(18);
    expect(calls.length).toBeGreaterThanOrEqual(3);
  });

  test('when the directory cannot be reached every waiting registration fails with the call', async () => {
    const unreachable = new DirectoryClient(`127.0.0.1:${await freePort()}`, { deadlineMs: 1_000 });
    const batcher = new RegistrationBatcher(unreachable);
    const codes = await settled(Array.from({ length: 5 }, () => batcher.register(signed(generateIdentity()), 10)));
    unreachable.close();
    expect(codes).toEqual(Array(5).fill('UNAVAILABLE'));
  });

  test('a directory without RegisterBatch gets single Registers from then on', async () => {
    // A directory of an earlier release: Register only (grpc-js answers UNIMPLEMENTED for the rest).
    const earlier = new Server();
    earlier.addService({ register: DirectoryServiceService.register } as typeof DirectoryServiceService, {
      register: (
        call: { request: RegisterRequest },
        callback: (e: ServiceError | null, r?: RegisterResponse) => void,
      ) =>
        client.register(call.request.record!, call.request.ttlSeconds).then(
          (response) => callback(null, response),
          (error: ServiceError) => callback(error),
        ),
    });
    const port = await new Promise<number>((resolve, reject) =>
      earlier.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const old = new DirectoryClient(`127.0.0.1:${port}`, { deadlineMs: 3_000 });
    const calls: number[] = [];
    const batcher = new RegistrationBatcher(old, (entries) => calls.push(entries));
    try {
      const records = Array.from({ length: 12 }, () => signed(generateIdentity()));
      const codes = await settled(records.map((record) => batcher.register(record, 10)));
      expect(codes).toEqual(Array(12).fill('OK'));
      for (const record of records) {
        expect((await client.resolve('default', { peerId: openRecord(record).peerId })).record.seq).toBe(1);
      }
      // The first call was a RegisterBatch of one (refused as UNIMPLEMENTED, then sent alone); every later one a Register.
      expect(calls.slice(1).every((entries) => entries === 1)).toBe(true);
      expect(calls.length).toBe(13);
    } finally {
      old.close();
      earlier.forceShutdown();
    }
  });
});
