/**
 * A Sybil flood against the directory: fresh identities, each with a valid signed record, all
 * registered from one client address. The defence is registrationsPerSourcePerSecond: past the
 * bucket (twice the rate at once) every Register answers RESOURCE_EXHAUSTED naming the setting,
 * nothing of a refused registration is stored, and peers already registered keep renewing.
 */
import { performance } from 'node:perf_hooks';
import { ServiceError, status } from '@grpc/grpc-js';
import { DirectoryClient } from '../../services/client/directory-client';
import { codeOf, startTestDirectory, type TestDirectory } from '../support/directory';
import { waitUntil } from '../support/hosts';
import { generateIdentity, signed } from '../support/records';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { checkStoreInvariants, openInvariantClient, type InvariantClient } from '../support/store-invariants';

const RATE = 5;
const BURST = 2 * RATE;
const FLOOD = 300;
const TOKEN = 'flood-test-introducer-token';

describe('a registration flood from one address', () => {
  let redis: RedisServer;
  let dir: TestDirectory;
  let admin: InvariantClient;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({
      redisUrl: redis.url,
      registrationsPerSourcePerSecond: RATE,
      introducerToken: TOKEN,
    });
    admin = openInvariantClient(redis.url);
  });

  afterAll(async () => {
    admin.close();
    await dir.stop();
    await redis.stop();
  });

  it('admits the burst and the rate, refuses the rest with RESOURCE_EXHAUSTED, and stores only what it admitted', async () => {
    const honest = generateIdentity();
    const { leaseId } = await dir.client.register(signed(honest, { network: 'sybil' }), 60);

    const records = Array.from({ length: FLOOD }, () => signed(generateIdentity(), { network: 'sybil' }));
    const started = performance.now();
    const outcomes = await Promise.all(
      records.map((record) =>
        dir.client.register(record, 60).then(
          () => 'OK',
          (error: ServiceError) => {
            if (error.code === status.RESOURCE_EXHAUSTED) {
              expect(error.details).toContain('registrationsPerSourcePerSecond');
            }
            return status[error.code];
          },
        ),
      ),
    );
    const elapsedS = (performance.now() - started) / 1_000;
    const admitted = outcomes.filter((code) => code === 'OK').length;
    const refused = outcomes.filter((code) => code === 'RESOURCE_EXHAUSTED').length;
    // The bucket held BURST - 1 tokens after the honest peer's registration, and refills at RATE.
    const bound = BURST - 1 + Math.ceil(RATE * elapsedS);
    console.info(
      `Sybil vs directory: ${FLOOD} fresh identities from 127.0.0.1 in ${elapsedS.toFixed(2)} s -> ${admitted} registered, ` +
        `${refused} RESOURCE_EXHAUSTED (registrationsPerSourcePerSecond ${RATE}, burst ${BURST}; bound ${bound})`,
    );
    expect(admitted + refused).toBe(FLOOD);
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(bound);

    // Only the admitted are stored, each whole: record, lease, index and deadline entries agree.
    const { peers } = await dir.client.listAll('sybil');
    expect(peers.length).toBe(admitted + 1);
    expect(await checkStoreInvariants(admin)).toEqual([]);
    // The honest peer's lease is untouched by the flood: renewals are not registrations.
    expect(await codeOf(dir.client.renew(leaseId))).toBe('OK');
    // The bucket refills: a registration goes through again once the source slows down.
    await waitUntil(
      async () => (await codeOf(dir.client.register(signed(generateIdentity(), { network: 'sybil' }), 60))) === 'OK',
      5_000,
      'a registration after the flood',
    );
  });

  it('does not hold back an introducer: a caller with the introducer token registers past the rate', async () => {
    const introducer = new DirectoryClient(dir.address, { introducerToken: TOKEN });
    const impostor = new DirectoryClient(dir.address, { introducerToken: 'a guess' });
    try {
      const records = Array.from({ length: 4 * BURST }, () => signed(generateIdentity(), { network: 'newcomers' }));
      const codes = await Promise.all(records.map((record) => codeOf(introducer.register(record, 60))));
      expect(codes.every((code) => code === 'OK')).toBe(true);
      // A wrong token is no token: the caller is held to the rate like anyone.
      const guessed = await Promise.all(
        Array.from({ length: 4 * BURST }, () =>
          codeOf(impostor.register(signed(generateIdentity(), { network: 'newcomers' }), 60)),
        ),
      );
      expect(guessed.filter((code) => code === 'RESOURCE_EXHAUSTED').length).toBeGreaterThan(0);
      expect(await checkStoreInvariants(admin)).toEqual([]);
    } finally {
      introducer.close();
      impostor.close();
    }
  });
});
