/**
 * A Sybil flood against an introducer: fresh identities, each with a valid record and each really
 * answering the dial-back on its own port, all joining from one address and all advertising it.
 * Two defences, each with its figure:
 *
 * - joinsPerSourcePerSecond (5, twice that at once): past the bucket every Join from the source
 *   answers RESOURCE_EXHAUSTED naming the setting, and only the admitted are registered;
 * - maxPeersPerAddress: however fast the source may join, the directory ends up holding at most
 *   that many live peers advertising one IP; past it Join answers RESOURCE_EXHAUSTED naming it.
 */
import { performance } from 'node:perf_hooks';
import { ServiceError, status } from '@grpc/grpc-js';
import { IntroducerClient } from '../../services/client/introducer-client';
import type { RunningIntroducer } from '../../services/introducer/server';
import { hostOf } from '../../services/membership/address-group';
import { codeOf, startTestDirectory, type TestDirectory } from '../support/directory';
import { waitUntil } from '../support/hosts';
import { startTestIntroducer } from '../support/introducers';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { checkStoreInvariants, openInvariantClient, type InvariantClient } from '../support/store-invariants';
import { countCodes, formatCounts, listeningSybils } from './attacker';

const RATE = 5;
const BURST = 2 * RATE;
const FLOOD = 300;
const MAX_PER_ADDRESS = 12;

describe('a Sybil flood against an introducer', () => {
  let redis: RedisServer;
  let dir: TestDirectory;
  let admin: InvariantClient;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    // The directory's own per-source bound is not what this test is about: the introducer registers for all.
    dir = await startTestDirectory({ redisUrl: redis.url, registrationsPerSourcePerSecond: 1_000_000 });
    admin = openInvariantClient(redis.url);
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    admin.close();
    await dir.stop();
    await redis.stop();
  });

  async function introducerFor(network: string, overrides: Parameters<typeof startTestIntroducer>[1]) {
    const introducer: RunningIntroducer = await startTestIntroducer(dir.address, { network, ...overrides });
    stops.push(() => introducer.stop());
    await waitUntil(
      async () => (await codeOf(dir.client.resolve(network, { peerId: introducer.peerId }))) === 'OK',
      10_000,
      'the introducer to register',
    );
    const client = new IntroducerClient(introducer.address);
    stops.push(async () => client.close());
    return { introducer, client };
  }

  /** Live peers of the network that advertise 127.0.0.1. */
  async function atLoopback(network: string): Promise<number> {
    const { peers } = await dir.client.listAll(network);
    return peers.filter((peer) => hostOf(peer.record.addresses[0] ?? '') === '127.0.0.1').length;
  }

  it('joins per source: the burst and the rate get in, the rest RESOURCE_EXHAUSTED', async () => {
    const { client } = await introducerFor('sybil-rate', {});
    const { sybils, close } = await listeningSybils(FLOOD, 'sybil-rate');
    stops.push(close);
    const before = (await dir.client.listAll('sybil-rate')).peers.length;
    const started = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: FLOOD }, (_, i) =>
        client.join(sybils.current(i)).then(
          () => ({ code: 'OK' }),
          (error: ServiceError) => {
            if (error.code === status.RESOURCE_EXHAUSTED) expect(error.details).toContain('joinsPerSourcePerSecond');
            return { code: status[error.code] };
          },
        ),
      ),
    );
    const elapsedS = (performance.now() - started) / 1_000;
    const codes = countCodes(outcomes);
    const admitted = codes.get('OK') ?? 0;
    const bound = BURST + Math.ceil(RATE * elapsedS);
    const registered = (await dir.client.listAll('sybil-rate')).peers.length - before;
    console.info(
      `Sybil vs introducer: ${FLOOD} fresh identities from 127.0.0.1 in ${elapsedS.toFixed(2)} s -> ${admitted} admitted ` +
        `(joinsPerSourcePerSecond ${RATE}, burst ${BURST}; bound ${bound}), ${formatCounts(codes)}; ${registered} registered`,
    );
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(bound);
    expect((codes.get('OK') ?? 0) + (codes.get('RESOURCE_EXHAUSTED') ?? 0)).toBe(FLOOD);
    expect(registered).toBe(admitted);
    expect(await checkStoreInvariants(admin)).toEqual([]);
  });

  it.each([
    ['one at a time', 1],
    ['32 at once', 32],
  ])(
    'peers per address, joins %s: the directory holds at most maxPeersPerAddress at one IP',
    async (_how, parallel) => {
      const network = `sybil-address-${parallel}`;
      const { client } = await introducerFor(network, {
        joinsPerSourcePerSecond: 1_000_000,
        maxPeersPerAddress: MAX_PER_ADDRESS,
      });
      const count = 4 * MAX_PER_ADDRESS;
      const { sybils, close } = await listeningSybils(count, network);
      stops.push(close);
      const outcomes: { code: string }[] = [];
      for (let start = 0; start < count; start += parallel) {
        const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, k) => start + k);
        outcomes.push(
          ...(await Promise.all(
            batch.map((i) =>
              client.join(sybils.current(i)).then(
                () => ({ code: 'OK' }),
                (error: ServiceError) => {
                  if (error.code === status.RESOURCE_EXHAUSTED) expect(error.details).toContain('maxPeersPerAddress');
                  return { code: status[error.code] };
                },
              ),
            ),
          )),
        );
      }
      const held = await atLoopback(network);
      console.info(
        `Sybil vs introducer (${_how}): ${count} reachable fresh identities at 127.0.0.1 -> ${formatCounts(countCodes(outcomes))}; ` +
          `the directory holds ${held} live peers at 127.0.0.1 (maxPeersPerAddress ${MAX_PER_ADDRESS}, the introducer's own record included)`,
      );
      expect(held).toBeLessThanOrEqual(MAX_PER_ADDRESS);
      expect(countCodes(outcomes).get('RESOURCE_EXHAUSTED')).toBeGreaterThan(0);
      expect(await checkStoreInvariants(admin)).toEqual([]);
    },
  );
});
