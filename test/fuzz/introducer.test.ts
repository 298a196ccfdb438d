/**
 * Property-based fuzzing of the Introducer's Join against a real introducer over real gRPC, with a
 * real Directory on a real redis-server and three real hosts whose keys the fuzzer holds (so it can
 * sign records that pass the dial-back). Each case is a join with a record forged, tampered,
 * replayed, stale, of another network, withdrawn, over the bounds, or pointing at an address that
 * does not answer or answers as another peer, with boundary sample sizes; or bytes that are no
 * request at all. After each case:
 *
 * - the call ended with a code Join may answer (never UNKNOWN, INTERNAL or a hang);
 * - the introducer still answers its health check;
 * - the directory's store over Redis is whole, and a refused join left the newcomer's entry as it
 *   was (absent, or the same seq and revision).
 */
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { openRecord, PeerRecord } from '../../services/common/records';
import { JoinRequest } from '../../services/gen/grapevine/v1/introducer';
import type { RunningHost } from '../../services/host/server';
import type { RunningIntroducer } from '../../services/introducer/server';
import { codeOf, startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import { startTestIntroducer, TEST_INTRODUCER_TOKEN } from '../support/introducers';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { openInvariantClient, readStore, storeProblems, type InvariantClient } from '../support/store-invariants';
import {
  codes,
  expectAllowed,
  fuzzSettings,
  hostileBytes,
  mutate,
  mutation,
  OutcomeTally,
  RawClient,
  type Mutation,
} from './fuzz-harness';
import { RecordPool, recordPlan, type RecordPlan } from './fuzz-records';

const JOIN = '/grapevine.v1.IntroducerService/Join';
const NETWORK = 'fuzz';
const POOL_SIZE = 5;
/** Pool members 0..REACHABLE-1 run a real host; the others point at one of those (another peer). */
const REACHABLE = 3;
const ALLOWED = codes(
  'OK',
  'PERMISSION_DENIED',
  'INVALID_ARGUMENT',
  'FAILED_PRECONDITION',
  'ALREADY_EXISTS',
  'RESOURCE_EXHAUSTED',
);

type Case =
  | { readonly rpc: 'Join'; readonly record: RecordPlan; readonly sampleSize: number }
  | { readonly rpc: 'raw'; readonly bytes: Buffer }
  | { readonly rpc: 'mutate'; readonly record: RecordPlan; readonly mutation: Mutation };

const join = fc.record({
  rpc: fc.constant('Join' as const),
  // Mostly records that point at their own host, so joins get past the dial-back.
  record: recordPlan(POOL_SIZE, { topSeq: false }).map((plan) => ({ ...plan, reachable: plan.at % 5 !== 0 })),
  sampleSize: fc.constantFrom(0, 0, 0, 0, 1, 8, 64, 65, 2 ** 32 - 1),
});
const introducerCase: fc.Arbitrary<Case> = fc.oneof(
  { arbitrary: join, weight: 12 },
  { arbitrary: fc.record({ rpc: fc.constant('raw' as const), bytes: hostileBytes }), weight: 2 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('mutate' as const),
      record: recordPlan(POOL_SIZE, { topSeq: false }),
      mutation,
    }),
    weight: 2,
  },
);

describe('fuzz: Introducer', () => {
  const settings = fuzzSettings('introducer', 120);
  let redis: RedisServer;
  let dir: TestDirectory;
  let introducer: RunningIntroducer;
  let raw: RawClient;
  let admin: InvariantClient;
  const hosts: RunningHost[] = [];
  const pool = new RecordPool({
    seedByte: 3,
    size: POOL_SIZE,
    home: NETWORK,
    second: 'fuzz-b',
    reachable: (who) => hosts[who % REACHABLE]?.address,
    // Above the hosts' own seqs (their clock in ms), so the fuzzer's records are the newest.
    firstSeq: Date.now() * 1_000,
  });

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({
      redisUrl: redis.url,
      introducerToken: TEST_INTRODUCER_TOKEN,
      registrationsPerSourcePerSecond: 1_000_000,
    });
    for (let who = 0; who < REACHABLE; who++) {
      hosts.push(await startTestHost({ network: NETWORK }, pool.identities[who]));
    }
    introducer = await startTestIntroducer(dir.address, {
      network: NETWORK,
      // The join bounds have their own tests (test/hostile); here every join reaches its checks.
      joinsPerSourcePerSecond: 1_000_000,
      dialBackTimeoutMs: 300,
    });
    await waitUntil(
      async () => (await codeOf(dir.client.resolve(NETWORK, { peerId: introducer.peerId }))) === 'OK',
      10_000,
      'the introducer to register',
    );
    raw = new RawClient(introducer.address);
    admin = openInvariantClient(redis.url);
  });

  afterAll(async () => {
    raw?.close();
    admin?.close();
    await introducer?.stop();
    await Promise.all(hosts.map((host) => host.stop()));
    await dir?.stop();
    await redis?.stop();
  });

  test(
    'every join ends with its status, the introducer stays up, and a refused join leaves the directory as it was',
    async () => {
      const tally = new OutcomeTally();

      /** The newcomer's directory entry: "absent", or its seq and entry revision. */
      const entryOf = async (peerId: string | undefined): Promise<string> => {
        if (!peerId) return 'absent';
        try {
          const peer = await dir.client.resolve(NETWORK, { peerId });
          return `seq ${peer.record.seq} revision ${peer.revision}`;
        } catch {
          return 'absent';
        }
      };
      const peerIdIn = (bytes: Buffer): string | undefined => {
        try {
          const request = JoinRequest.decode(bytes);
          return request.record ? PeerRecord.decode(request.record.record).peerId : undefined;
        } catch {
          return undefined;
        }
      };

      const runCase = async (c: Case) => {
        let bytes: Buffer;
        let label = 'Join';
        if (c.rpc === 'raw') {
          bytes = c.bytes;
          label = 'Join (raw)';
        } else if (c.rpc === 'mutate') {
          bytes = mutate(
            JoinRequest.encode({ record: pool.materialize(c.record), sampleSize: 0 }).finish(),
            c.mutation,
          );
          label = `Join (mutated: ${c.mutation.how})`;
        } else {
          bytes = Buffer.from(
            JoinRequest.encode({ record: pool.materialize(c.record), sampleSize: c.sampleSize }).finish(),
          );
        }
        const newcomer = peerIdIn(bytes);
        const before = await entryOf(newcomer);

        const outcome = await raw.unary(JOIN, bytes);
        tally.add('Join', outcome.code, outcome.details);
        expectAllowed(label, outcome, ALLOWED, bytes.length);

        expect(await raw.health()).toBe('SERVING');
        const problems = storeProblems(await readStore(admin));
        if (problems.length > 0) throw new Error(`after ${label} (${status[outcome.code]}): ${problems.join('; ')}`);
        if (outcome.code !== status.OK) {
          const after = await entryOf(newcomer);
          if (after !== before) {
            throw new Error(
              `${label} ended ${status[outcome.code]} yet the newcomer's entry went from ${before} to ${after}`,
            );
          }
        } else {
          // An admitted newcomer is registered with the very record it joined with.
          const request = JoinRequest.decode(bytes);
          const joined = openRecord(request.record);
          const held = await dir.client.resolve(NETWORK, { peerId: joined.peerId });
          expect(held.record.seq).toBeGreaterThanOrEqual(joined.seq);
        }
      };

      await fc.assert(fc.asyncProperty(introducerCase, runCase), {
        seed: settings.seed,
        numRuns: settings.runs,
        endOnFailure: true,
      });
      console.info(`fuzz introducer outcomes:\n${tally}`);
      expect(tally.count('Join', 'OK')).toBeGreaterThan(0);
      expect(tally.count('Join', 'FAILED_PRECONDITION')).toBeGreaterThan(0);
      expect(tally.count('Join', 'PERMISSION_DENIED')).toBeGreaterThan(0);
    },
    settings.timeoutMs,
  );
});
