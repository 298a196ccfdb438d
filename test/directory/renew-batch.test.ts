/**
 * RenewBatch over real gRPC against a real redis-server, and the RenewalBatcher introducers keep
 * their members' leases through: each entry is a Renew of its own (a lost or malformed lease is
 * refused alone), more than the limit is refused whole, and a directory without RenewBatch still
 * gets every renewal.
 */
import { Server, ServerCredentials, ServiceError, status } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { DirectoryClient } from '../../services/client/directory-client';
import { RenewalBatcher } from '../../services/client/renewal-batcher';
import { MAX_RENEW_BATCH } from '../../services/common/limits';
import {
  DirectoryServiceService,
  type RenewRequest,
  type RenewResponse,
  type RenewResult,
} from '../../services/gen/grapevine/v1/directory';
import { TestDirectory, codeOf, startTestDirectory } from '../support/directory';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { generateIdentity, signed } from '../support/records';

const codeName = (result: RenewResult): string =>
  result.outcome?.$case === 'error' ? status[result.outcome.value.code] : 'OK';

describe('RenewBatch and the RenewalBatcher', () => {
  let redis: RedisServer;
  let admin: Redis;
  let t: TestDirectory;
  let client: DirectoryClient;

  /** Registers fresh peers for `ttlSeconds`; their peer ids and lease ids. */
  async function leases(count: number, ttlSeconds = 10): Promise<{ peerId: string; leaseId: string }[]> {
    const peers = Array.from({ length: count }, () => generateIdentity());
    return Promise.all(
      peers.map(async (peer) => ({
        peerId: peer.peerId,
        leaseId: (await client.register(signed(peer), ttlSeconds)).leaseId,
      })),
    );
  }

  const deadlineOf = async (peerId: string) => Number(await admin.zscore('gv:{default}:deadlines', peerId));
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url);
    t = await startTestDirectory({ redisUrl: redis.url });
    client = new DirectoryClient(t.address, { deadlineMs: 3_000 });
  });
  afterAll(async () => {
    client.close();
    admin.disconnect();
    await t.stop();
    await redis.stop();
  });

  test('answers each entry in order as Renew would, and extends only the live leases', async () => {
    const [live, other] = await leases(2);
    const [before, otherBefore] = [await deadlineOf(live.peerId), await deadlineOf(other.peerId)];
    await pause(30);
    const entries: RenewRequest[] = [
      { leaseId: live.leaseId },
      { leaseId: 'default.no-such-lease' },
      { leaseId: '' },
      { leaseId: 'x'.repeat(200) },
    ];

    const results = await client.renewBatch(entries);

    expect(results.map(codeName)).toEqual(['OK', 'NOT_FOUND', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    const renewed = results[0].outcome;
    expect(renewed?.$case === 'renewed' && renewed.value.ttlSeconds).toBe(10);
    const refused = results[2].outcome;
    expect(refused?.$case === 'error' && refused.value.message).toContain('lease_id must be');
    expect(await deadlineOf(live.peerId)).toBeGreaterThan(before);
    expect(await deadlineOf(other.peerId)).toBe(otherBefore);
  });

  test(`more than ${MAX_RENEW_BATCH} entries are refused whole, naming the limit, and renew nothing`, async () => {
    const [live] = await leases(1);
    const before = await deadlineOf(live.peerId);
    await pause(30);
    const entries = Array.from({ length: MAX_RENEW_BATCH + 1 }, () => ({ leaseId: live.leaseId }));
    const error = (await client.renewBatch(entries).catch((e: ServiceError) => e)) as ServiceError;
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toContain(`more than the ${MAX_RENEW_BATCH}`);
    expect(await deadlineOf(live.peerId)).toBe(before);
  });

  test('renewals that arrive while a call is out share the next one; a lost lease fails alone', async () => {
    const held = await leases(40);
    const ids = held.map((h) => h.leaseId);
    ids[11] = 'default.lost-lease';
    const calls: number[] = [];
    const batcher = new RenewalBatcher(client, (entries) => calls.push(entries), 0);

    const codes = await Promise.all(ids.map((id) => codeOf(batcher.renew(id))));

    expect(codes.filter((c) => c !== 'OK')).toEqual(['NOT_FOUND']);
    expect(codes[11]).toBe('NOT_FOUND');
    expect(calls.reduce((a, b) => a + b, 0)).toBe(40);
    expect(calls[0]).toBe(1);
    expect(calls.length).toBeLessThan(8);
    expect(await batcher.renew(held[0].leaseId)).toBe(10);
  });

  test('renewals that come due one by one wait for each other, up to the linger time', async () => {
    const held = await leases(30);
    const calls: number[] = [];
    const batcher = new RenewalBatcher(client, (entries) => calls.push(entries), 2_000);
    const renewals: Promise<number>[] = [];
    for (const { leaseId } of held) {
      renewals.push(batcher.renew(leaseId));
      await pause(5);
    }
    expect(await Promise.all(renewals)).toEqual(Array(30).fill(10));
    expect(calls).toEqual([30]);
  });

  test('a directory without RenewBatch gets single Renews from then on', async () => {
    // A directory of an earlier release: Renew only (grpc-js answers UNIMPLEMENTED for the rest).
    const earlier = new Server();
    earlier.addService({ renew: DirectoryServiceService.renew } as typeof DirectoryServiceService, {
      renew: (call: { request: RenewRequest }, callback: (e: ServiceError | null, r?: RenewResponse) => void) =>
        client.renew(call.request.leaseId).then(
          (ttlSeconds) => callback(null, { ttlSeconds }),
          (error: ServiceError) => callback(error),
        ),
    });
    const port = await new Promise<number>((resolve, reject) =>
      earlier.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const old = new DirectoryClient(`127.0.0.1:${port}`, { deadlineMs: 3_000 });
    const calls: number[] = [];
    const batcher = new RenewalBatcher(old, (entries) => calls.push(entries));
    try {
      const held = await leases(8);
      const ttls = await Promise.all(held.map((h) => batcher.renew(h.leaseId)));
      expect(ttls).toEqual(Array(8).fill(10));
      // The first call was a RenewBatch of one (refused as UNIMPLEMENTED, then sent alone); every later one a Renew.
      expect(calls.slice(1).every((entries) => entries === 1)).toBe(true);
      expect(calls.length).toBe(9);
    } finally {
      old.close();
      earlier.forceShutdown();
    }
  });
});
