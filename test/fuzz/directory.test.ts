/**
 * Property-based fuzzing of every Directory RPC against the real server over real gRPC, on a real
 * redis-server. Each case is a well-formed but hostile request (boundary values, over-size fields,
 * wrong networks, forged, tampered, replayed and stale records, hostile page tokens and selectors)
 * or bytes that are no request at all. After each case:
 *
 * - the call ended with a code its RPC may answer (never UNKNOWN, INTERNAL or a hang);
 * - the server still answers its health check;
 * - the store over Redis is whole (test/support/store-invariants.ts), and a refused call or a read
 *   changed nothing at all.
 *
 * The directory's clock only moves when a case says so, and each move waits for the sweep, so
 * between moves nothing but the fuzzed calls writes to Redis.
 */
import { Metadata, status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { PeerRecord } from '../../services/common/records';
import {
  DeregisterRequest,
  EvictRequest,
  ListRequest,
  ListResponse,
  RegisterBatchRequest,
  RegisterBatchResponse,
  RenewBatchRequest,
  RenewBatchResponse,
  type EntryError,
  RegisterRequest,
  RegisterResponse,
  RenewRequest,
  ResolveRequest,
  UpdateRecordRequest,
  WatchRequest,
  WatchResponse,
} from '../../services/gen/grapevine/v1/directory';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import {
  fingerprint,
  openInvariantClient,
  readStore,
  storeProblems,
  type InvariantClient,
  type StoreSnapshot,
} from '../support/store-invariants';
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
  type Outcome,
} from './fuzz-harness';
import { RecordPool, recordPlan, SHARED_NAMES, type RecordPlan } from './fuzz-records';

const SERVICE = '/grapevine.v1.DirectoryService/';
const HOME = 'fuzz';
const SECOND = 'fuzz-b';
const TOKEN = 'fuzz-introducer-token';
const POOL_SIZE = 6;

/** What each RPC may answer, from README's Directory API table. */
const ALLOWED: Record<string, ReadonlySet<status>> = {
  Register: codes(
    'OK',
    'INVALID_ARGUMENT',
    'PERMISSION_DENIED',
    'FAILED_PRECONDITION',
    'ALREADY_EXISTS',
    'RESOURCE_EXHAUSTED',
  ),
  // Each entry answers as a Register would (checked below); the call itself only these.
  RegisterBatch: codes('OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'),
  Renew: codes('OK', 'NOT_FOUND', 'INVALID_ARGUMENT'),
  // Each entry answers as a Renew would (checked below); the call itself only these.
  RenewBatch: codes('OK', 'INVALID_ARGUMENT'),
  Deregister: codes(
    'OK',
    'NOT_FOUND',
    'FAILED_PRECONDITION',
    'PERMISSION_DENIED',
    'INVALID_ARGUMENT',
    'RESOURCE_EXHAUSTED',
  ),
  UpdateRecord: codes(
    'OK',
    'NOT_FOUND',
    'FAILED_PRECONDITION',
    'PERMISSION_DENIED',
    'ALREADY_EXISTS',
    'INVALID_ARGUMENT',
    'RESOURCE_EXHAUSTED',
  ),
  Evict: codes('OK', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'FAILED_PRECONDITION', 'INVALID_ARGUMENT'),
  Resolve: codes('OK', 'NOT_FOUND', 'INVALID_ARGUMENT'),
  List: codes('OK', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'),
  Watch: codes('OK', 'OUT_OF_RANGE', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'),
};
const METHODS = Object.keys(ALLOWED);
/** The batch calls: each entry must answer as its single call may. */
const BATCHES: Record<
  string,
  {
    readonly single: string;
    decode(bytes: Uint8Array): { results: { outcome?: { $case: string; value: unknown } }[] };
  }
> = {
  RegisterBatch: { single: 'Register', decode: (bytes) => RegisterBatchResponse.decode(bytes) },
  RenewBatch: { single: 'Renew', decode: (bytes) => RenewBatchResponse.decode(bytes) },
};
const WRITES = new Set(['Register', 'RegisterBatch', 'Renew', 'RenewBatch', 'Deregister', 'UpdateRecord', 'Evict']);

// ---- cases ------------------------------------------------------------------------------------------

type NetworkPlan = 'home' | 'second' | 'bad' | 'empty' | 'long' | 'unicode';
type LeasePlan = 'known' | 'mangled' | 'other-network' | 'forged' | 'empty' | 'long' | 'no-dot' | 'unicode';
type TokenPlan = 'right' | 'none' | 'wrong' | 'basic' | 'bare';
type PagePlan = 'none' | 'last' | 'other-network' | 'forged-id' | 'garbage' | 'long' | 'bad-chars';
type FromPlan = 'unset' | 'zero' | 'current' | 'ahead' | 'max-safe' | 'one';

type Case =
  | { readonly rpc: 'Register'; readonly record: RecordPlan; readonly ttl: number }
  | {
      readonly rpc: 'RegisterBatch';
      readonly entries: readonly { readonly record: RecordPlan; readonly ttl: number }[];
      /** Repeat the entries past the batch limit. */
      readonly oversize: boolean;
    }
  | { readonly rpc: 'Renew'; readonly lease: LeasePlan; readonly at: number }
  | {
      readonly rpc: 'RenewBatch';
      readonly entries: readonly { readonly lease: LeasePlan; readonly at: number }[];
      /** Repeat the entries past the batch limit. */
      readonly oversize: boolean;
    }
  | { readonly rpc: 'Deregister'; readonly record: RecordPlan }
  | { readonly rpc: 'UpdateRecord'; readonly record: RecordPlan }
  | {
      readonly rpc: 'Evict';
      readonly network: NetworkPlan;
      readonly who: number;
      readonly seq: 'held' | 'next' | number;
      readonly token: TokenPlan;
    }
  | {
      readonly rpc: 'Resolve';
      readonly network: NetworkPlan;
      readonly target: 'peer' | 'name' | 'bad-peer' | 'bad-name' | 'none';
      readonly who: number;
    }
  | {
      readonly rpc: 'List';
      readonly network: NetworkPlan;
      readonly selector: string;
      readonly pageSize: number;
      readonly page: PagePlan;
    }
  | { readonly rpc: 'Watch'; readonly network: NetworkPlan; readonly from: FromPlan }
  | { readonly rpc: 'raw'; readonly method: string; readonly bytes: Buffer }
  | { readonly rpc: 'mutate'; readonly inner: Case; readonly mutation: Mutation }
  | { readonly rpc: 'advance'; readonly ms: number };

const network = fc.oneof(
  { arbitrary: fc.constantFrom<NetworkPlan>('home', 'second'), weight: 6 },
  { arbitrary: fc.constantFrom<NetworkPlan>('bad', 'empty', 'long', 'unicode'), weight: 1 },
);
const withdrawnPlan = recordPlan(POOL_SIZE).map((plan) => ({ ...plan, withdrawn: plan.at % 8 !== 0 }));
const selector = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    'tier=edge',
    'k0=v0,k1',
    '!draining',
    'a!=b',
    'k==v',
    'zone=eu-1,tier!=canary,gpu,!draining',
  ),
  fc.constantFrom('=', 'a=b=c', '!a=b', ',', 'a,', 'ü=1', 'a'.repeat(1_025), `${'k,'.repeat(512)}k`, '!', 'a b'),
  fc.string({ maxLength: 40 }),
);

const ttl = fc.constantFrom(0, 0, 30, 60, 1, 4, 5, 3_600, 3_601, 2 ** 32 - 1);
const leasePlan = fc.constantFrom<LeasePlan>(
  'known',
  'known',
  'known',
  'mangled',
  'other-network',
  'forged',
  'empty',
  'long',
  'no-dot',
  'unicode',
);
const wellFormed: fc.Arbitrary<Case> = fc.oneof(
  {
    arbitrary: fc.record({ rpc: fc.constant('Register' as const), record: recordPlan(POOL_SIZE), ttl }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constant('RegisterBatch' as const),
      entries: fc.array(fc.record({ record: recordPlan(POOL_SIZE), ttl }), { maxLength: 6 }),
      oversize: fc.nat({ max: 9 }).map((n) => n === 0),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ rpc: fc.constant('Renew' as const), lease: leasePlan, at: fc.nat() }), weight: 3 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('RenewBatch' as const),
      entries: fc.array(fc.record({ lease: leasePlan, at: fc.nat() }), { maxLength: 6 }),
      oversize: fc.nat({ max: 9 }).map((n) => n === 0),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ rpc: fc.constant('Deregister' as const), record: withdrawnPlan }), weight: 3 },
  { arbitrary: fc.record({ rpc: fc.constant('UpdateRecord' as const), record: recordPlan(POOL_SIZE) }), weight: 4 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('Evict' as const),
      network,
      who: fc.nat({ max: POOL_SIZE - 1 }),
      seq: fc.oneof(
        fc.constantFrom<'held' | 'next'>('held', 'held', 'next'),
        fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1),
      ),
      token: fc.constantFrom<TokenPlan>('right', 'right', 'none', 'wrong', 'basic', 'bare'),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constant('Resolve' as const),
      network,
      target: fc.constantFrom(
        'peer' as const,
        'name' as const,
        'bad-peer' as const,
        'bad-name' as const,
        'none' as const,
      ),
      who: fc.nat({ max: POOL_SIZE - 1 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constant('List' as const),
      network,
      selector,
      pageSize: fc.constantFrom(0, 1, 2, 100, 1_000, 1_001, 2 ** 32 - 1),
      page: fc.constantFrom<PagePlan>(
        'none',
        'last',
        'last',
        'other-network',
        'forged-id',
        'garbage',
        'long',
        'bad-chars',
      ),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      rpc: fc.constant('Watch' as const),
      network,
      from: fc.constantFrom<FromPlan>('unset', 'zero', 'current', 'current', 'ahead', 'max-safe', 'one'),
    }),
    weight: 1,
  },
);

const directoryCase: fc.Arbitrary<Case> = fc.oneof(
  { arbitrary: wellFormed, weight: 20 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('raw' as const),
      method: fc.constantFrom(...METHODS),
      bytes: hostileBytes,
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ rpc: fc.constant('mutate' as const), inner: wellFormed, mutation }), weight: 4 },
  {
    arbitrary: fc.record({
      rpc: fc.constant('advance' as const),
      ms: fc.constantFrom(1_000, 6_000, 31_000, 3_601_000),
    }),
    weight: 1,
  },
);

// ---- the suite ----------------------------------------------------------------------------------------

describe('fuzz: Directory', () => {
  const settings = fuzzSettings('directory');
  let redis: RedisServer;
  let dir: TestDirectory;
  let raw: RawClient;
  let admin: InvariantClient;
  let clock = Date.now();

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory(
      {
        redisUrl: redis.url,
        introducerToken: TOKEN,
        // The registration bound has its own test (test/hostile); here every case reaches the store.
        registrationsPerSourcePerSecond: 1_000_000,
        sweepIntervalMs: 20,
        // Small, so a long run trims the log and old revisions answer OUT_OF_RANGE.
        logRetention: 100,
      },
      () => clock,
    );
    raw = new RawClient(dir.address);
    admin = openInvariantClient(redis.url);
  });

  afterAll(async () => {
    raw?.close();
    admin?.close();
    await dir?.stop();
    await redis?.stop();
  });

  test(
    'every request ends with its status, the server stays up, and the store stays whole',
    async () => {
      const pool = new RecordPool({ seedByte: 1, size: POOL_SIZE, home: HOME, second: SECOND });
      const leases: string[] = [];
      const pageTokens: string[] = [];
      const revisions = new Map<string, number>();
      const heldSeq = new Map<string, number>();
      const tally = new OutcomeTally();
      let snapshot: StoreSnapshot = await readStore(admin);

      const networkName = (plan: NetworkPlan): string =>
        ({ home: HOME, second: SECOND, bad: 'Bad_Net', empty: '', long: 'n'.repeat(64), unicode: 'nét' })[plan];

      /** A lease id to renew: mostly one of the last few handed out (likely still live), now and then an old one or a bad one. */
      const leaseIdFor = ({ lease, at }: { lease: LeasePlan; at: number }): string => {
        const recent = leases.length - 1 - (at % Math.min(3, Math.max(1, leases.length)));
        const known =
          leases[at % 4 === 0 ? at % Math.max(1, leases.length) : recent] ?? `${HOME}.aaaaaaaaaaaaaaaaaaaaaaaa`;
        return {
          known,
          mangled: known.slice(0, -1) + (known.endsWith('a') ? 'b' : 'a'),
          'other-network': `${SECOND}.${known.split('.')[1] ?? ''}`,
          forged: `${HOME}.${'a2'.repeat(12)}`,
          empty: '',
          long: `${HOME}.${'a'.repeat(200)}`,
          'no-dot': known.replace('.', ''),
          unicode: `${HOME}.ééééééééééééééééééééééé`,
        }[lease];
      };

      /** The path, request bytes and metadata of a well-formed case. */
      const encode = (c: Case): { method: string; bytes: Buffer; metadata: Metadata; network?: string } => {
        const metadata = new Metadata();
        const bytes = (message: { finish(): Uint8Array }) => Buffer.from(message.finish());
        switch (c.rpc) {
          case 'Register':
            return {
              method: 'Register',
              bytes: bytes(RegisterRequest.encode({ record: pool.materialize(c.record), ttlSeconds: c.ttl })),
              metadata,
            };
          case 'RegisterBatch': {
            const entries = c.entries.map((e) => ({ record: pool.materialize(e.record), ttlSeconds: e.ttl }));
            const sent =
              c.oversize && entries.length > 0
                ? Array.from({ length: 257 }, (_, i) => entries[i % entries.length])
                : entries;
            return { method: 'RegisterBatch', bytes: bytes(RegisterBatchRequest.encode({ entries: sent })), metadata };
          }
          case 'Renew':
            return { method: 'Renew', bytes: bytes(RenewRequest.encode({ leaseId: leaseIdFor(c) })), metadata };
          case 'RenewBatch': {
            const entries = c.entries.map((e) => ({ leaseId: leaseIdFor(e) }));
            const sent =
              c.oversize && entries.length > 0
                ? Array.from({ length: 257 }, (_, i) => entries[i % entries.length])
                : entries;
            return { method: 'RenewBatch', bytes: bytes(RenewBatchRequest.encode({ entries: sent })), metadata };
          }
          case 'Deregister':
            return {
              method: 'Deregister',
              bytes: bytes(DeregisterRequest.encode({ record: pool.materialize(c.record) })),
              metadata,
            };
          case 'UpdateRecord':
            return {
              method: 'UpdateRecord',
              bytes: bytes(UpdateRecordRequest.encode({ record: pool.materialize(c.record) })),
              metadata,
            };
          case 'Evict': {
            // The seq the directory last accepted for this peer, when the fuzzer saw one.
            const held = heldSeq.get(pool.id(c.who)) ?? pool.highestSeq(c.who);
            const seq = c.seq === 'held' ? held : c.seq === 'next' ? held + 1 : c.seq;
            if (c.token === 'right') metadata.set('authorization', `Bearer ${TOKEN}`);
            if (c.token === 'wrong') metadata.set('authorization', 'Bearer not-the-token');
            if (c.token === 'basic') metadata.set('authorization', `Basic ${TOKEN}`);
            // (Two authorization values never leave a grpc-js client, so that case is not sent.)
            if (c.token === 'bare') metadata.set('authorization', 'Bearer ');
            return {
              method: 'Evict',
              bytes: bytes(EvictRequest.encode({ network: networkName(c.network), peerId: pool.id(c.who), seq })),
              metadata,
            };
          }
          case 'Resolve': {
            const target =
              c.target === 'peer'
                ? { $case: 'peerId' as const, value: pool.id(c.who) }
                : c.target === 'name'
                  ? { $case: 'name' as const, value: SHARED_NAMES[c.who % SHARED_NAMES.length] }
                  : c.target === 'bad-peer'
                    ? { $case: 'peerId' as const, value: `${pool.id(c.who)}zz` }
                    : c.target === 'bad-name'
                      ? { $case: 'name' as const, value: '-x'.repeat(40) }
                      : undefined;
            return {
              method: 'Resolve',
              bytes: bytes(ResolveRequest.encode({ network: networkName(c.network), target })),
              metadata,
            };
          }
          case 'List': {
            const name = networkName(c.network);
            const last = pageTokens.at(-1) ?? '';
            const cursor = (n: string, a: string) => Buffer.from(JSON.stringify({ v: 1, n, a })).toString('base64url');
            const pageToken = {
              none: '',
              last,
              'other-network': cursor(name === HOME ? SECOND : HOME, pool.id(0)),
              'forged-id': cursor(name, 'not-a-peer'),
              garbage: Buffer.from('{"v":1').toString('base64url'),
              long: 'A'.repeat(300),
              'bad-chars': 'abc+/=',
            }[c.page];
            return {
              method: 'List',
              bytes: bytes(
                ListRequest.encode({ network: name, labelSelector: c.selector, pageSize: c.pageSize, pageToken }),
              ),
              metadata,
              network: name,
            };
          }
          case 'Watch': {
            const name = networkName(c.network);
            const current = revisions.get(name) ?? 0;
            const fromRevision = {
              unset: undefined,
              zero: 0,
              current,
              ahead: current + 1_000_000,
              'max-safe': Number.MAX_SAFE_INTEGER,
              one: 1,
            }[c.from];
            return {
              method: 'Watch',
              bytes: bytes(WatchRequest.encode({ network: name, fromRevision })),
              metadata,
              network: name,
            };
          }
          default:
            throw new Error(`not a well-formed case: ${c.rpc}`);
        }
      };

      const send = (method: string, bytes: Buffer, metadata: Metadata): Promise<Outcome> =>
        method === 'Watch'
          ? raw.serverStream(SERVICE + method, bytes, 50, metadata)
          : raw.unary(SERVICE + method, bytes, metadata);

      /** Remembers what a successful answer hands out: leases, page tokens, revisions. */
      const learn = (method: string, outcome: Outcome, network?: string, request?: Buffer) => {
        if (outcome.code !== status.OK || !outcome.response) return;
        if ((method === 'Register' || method === 'UpdateRecord') && request) {
          const signed = (method === 'Register' ? RegisterRequest : UpdateRecordRequest).decode(request).record;
          if (signed) {
            const record = PeerRecord.decode(signed.record);
            heldSeq.set(record.peerId, record.seq);
          }
        }
        if (method === 'Register') leases.push(RegisterResponse.decode(outcome.response).leaseId);
        if (method === 'RegisterBatch' && request) {
          const { entries } = RegisterBatchRequest.decode(request);
          RegisterBatchResponse.decode(outcome.response).results.forEach((result, i) => {
            if (result.outcome?.$case !== 'registered' || !entries[i]?.record) return;
            leases.push(result.outcome.value.leaseId);
            const record = PeerRecord.decode(entries[i].record!.record);
            heldSeq.set(record.peerId, Math.max(heldSeq.get(record.peerId) ?? 0, record.seq));
          });
        }
        let revision: number | undefined;
        if (method === 'List') {
          const page = ListResponse.decode(outcome.response);
          if (page.nextPageToken) pageTokens.push(page.nextPageToken);
          revision = page.revision;
        }
        if (method === 'Watch') revision = WatchResponse.decode(outcome.response).revision;
        if (network !== undefined && revision !== undefined) {
          revisions.set(network, Math.max(revisions.get(network) ?? 0, revision));
        }
      };

      /** After the clock moves, the sweeper ends every lease now due before the next case runs. */
      const advance = async (ms: number) => {
        clock += ms;
        const due = async () => {
          let n = 0;
          for (const name of [HOME, SECOND]) {
            n += await admin.redis.zcount(`gv:{${name}}:deadlines`, '-inf', clock);
          }
          return n;
        };
        const until = Date.now() + 10_000;
        while ((await due()) > 0) {
          if (Date.now() > until) throw new Error('the sweeper did not end the due leases within 10 s');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };

      const runCase = async (c: Case) => {
        if (c.rpc === 'advance') {
          await advance(c.ms);
          snapshot = await readStore(admin);
          expect(storeProblems(snapshot)).toEqual([]);
          return;
        }
        let method: string;
        let bytes: Buffer;
        let metadata = new Metadata();
        let label: string;
        let network: string | undefined;
        if (c.rpc === 'raw') {
          method = c.method;
          bytes = c.bytes;
          label = `${method} (raw)`;
          if (method === 'Evict') metadata.set('authorization', `Bearer ${TOKEN}`);
        } else if (c.rpc === 'mutate') {
          const encoded = encode(c.inner);
          method = encoded.method;
          bytes = mutate(encoded.bytes, c.mutation);
          metadata = encoded.metadata;
          label = `${method} (mutated: ${c.mutation.how})`;
        } else {
          ({ method, bytes, metadata, network } = encode(c));
          label = method;
        }

        const outcome = await send(method, bytes, metadata);
        tally.add(label.split(' ')[0], outcome.code, outcome.details);
        expectAllowed(label, outcome, ALLOWED[method], bytes.length);
        if (outcome.code === status.OK && outcome.response) {
          const batch = BATCHES[method];
          for (const result of batch?.decode(outcome.response).results ?? []) {
            const error = result.outcome?.$case === 'error' ? (result.outcome.value as EntryError) : undefined;
            const entryCode = error ? error.code : status.OK;
            tally.add(`${method}[entry]`, entryCode, error?.message ?? '');
            if (!ALLOWED[batch!.single].has(entryCode)) {
              throw new Error(`${label}: an entry answered ${status[entryCode]}, which ${batch!.single} never may`);
            }
          }
        }
        learn(method, outcome, network, bytes);

        expect(await raw.health()).toBe('SERVING');
        const after = await readStore(admin);
        const problems = storeProblems(after);
        if (problems.length > 0) throw new Error(`after ${label} (${status[outcome.code]}): ${problems.join('; ')}`);
        if (outcome.code !== status.OK || !WRITES.has(method)) {
          const changed = fingerprint(snapshot) !== fingerprint(after);
          if (changed) throw new Error(`${label} ended ${status[outcome.code]} yet changed the store`);
        }
        snapshot = after;
      };

      await fc.assert(fc.asyncProperty(directoryCase, runCase), {
        seed: settings.seed,
        numRuns: settings.runs,
        endOnFailure: true,
      });
      console.info(`fuzz directory outcomes:\n${tally}`);

      // The run reached the store, not only the checks in front of it.
      expect(tally.count('Register', 'OK')).toBeGreaterThan(0);
      expect(tally.count('Register', 'INVALID_ARGUMENT')).toBeGreaterThan(0);
      expect(tally.count('RegisterBatch[entry]', 'OK')).toBeGreaterThan(0);
      expect(tally.count('RenewBatch[entry]', 'OK')).toBeGreaterThan(0);
      expect(
        tally.count('Register', 'PERMISSION_DENIED') +
          tally.count('RegisterBatch[entry]', 'PERMISSION_DENIED') +
          tally.count('UpdateRecord', 'PERMISSION_DENIED'),
      ).toBeGreaterThan(0);
      // Every Watch the fuzzer opened and cancelled has left the registry.
      await expectNoWatchers(dir);
    },
    settings.timeoutMs,
  );
});

async function expectNoWatchers(dir: TestDirectory): Promise<void> {
  const until = Date.now() + 5_000;
  let text = '';
  while (Date.now() < until) {
    text = await (await fetch(`http://127.0.0.1:${dir.directory.metricsPort}/metrics`)).text();
    if (/^grapevine_directory_watchers 0$/m.test(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`watchers left open: ${/^grapevine_directory_watchers .*$/m.exec(text)?.[0]}`);
}
