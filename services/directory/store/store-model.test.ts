/**
 * Model-based test: random sequences of register (new records, repeats of the record held, stale
 * ones), renew, deregister, record updates, evictions, clock moves, sweeps and watches run against the memory store, the Redis store and a deliberately simple model (plain
 * Maps). After every step all three agree on every answer, every error, every peer (by id, by
 * name, in lists), the revision (relative to where each started), and on what every watcher has
 * seen; the events a watcher saw from revision 0, replayed, give the live state.
 *
 * Set GRAPEVINE_SEED to replay a run; the seed of every run is logged.
 */
import { createPrivateKey } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { RedisServer, startRedisServer } from '../../../test/support/redis-server';
import { Identity, identityFromPem } from '../../common/identity';
import { PeerRecord, SignedRecord, openRecord, signRecord } from '../../common/records';
import { createMemoryStore } from './memory-store';
import { createDirectoryRedis, waitForRedis } from './redis-connection';
import { createRedisStore } from './redis-store';
import { ChangeEvent, DirectoryStore, StoredPeer } from './store';
import { CONTRACT_START_MS, EventRecorder, ManualClock, listAll, replay } from './store-contract';

const NUM_RUNS = 60;
const MAX_COMMANDS = 40;
const NETWORKS = ['m1', 'm2'] as const;
const NAMES = ['', 'a', 'b'] as const;
const TTLS_MS = [1_000, 5_000, 20_000] as const;
const FLOOR_RETENTION_MS = 40_000;
const PEERS_PER_NETWORK = 3;

// ---------------------------------------------------------------------------------------------
// Peers: fixed keys, so a seed replays the same ids (and so the same id order) in any process.

/** An Ed25519 private key from a 32-byte seed, via its PKCS#8 DER form. */
function fixedIdentity(index: number): Identity {
  const seed = Buffer.alloc(32, 0);
  seed.writeUInt32BE(index + 1, 28);
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const pem = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' });
  return identityFromPem(pem.toString());
}

interface PoolPeer {
  readonly identity: Identity;
  readonly network: string;
}

const POOL: PoolPeer[] = NETWORKS.flatMap((network, n) =>
  Array.from({ length: PEERS_PER_NETWORK }, (_, i) => ({
    identity: fixedIdentity(n * PEERS_PER_NETWORK + i),
    network,
  })),
);

function sign(
  peer: PoolPeer,
  seq: number,
  name: string,
  withdrawn: boolean,
): { record: PeerRecord; signed: SignedRecord } {
  const signed = signRecord(peer.identity, {
    network: peer.network,
    name: withdrawn ? '' : name,
    addresses: withdrawn ? [] : [`10.1.0.${seq % 250}:7000`],
    labels: {},
    seq,
    issuedAtMs: CONTRACT_START_MS,
    withdrawn,
  });
  return { record: openRecord(signed), signed };
}

// ---------------------------------------------------------------------------------------------
// The model: the rules, written as plainly as possible.

type Outcome<T> = { ok: T } | { error: string };

interface ModelPeer {
  readonly seq: number;
  readonly name: string;
  readonly recordBytes: Buffer;
  readonly signature: Buffer;
  readonly revision: number;
  readonly lease: number;
  ttl: number;
  deadline: number;
}

interface ModelEvent {
  readonly type: 'put' | 'delete';
  readonly peerId: string;
  readonly reason?: string;
  readonly revision: number;
  readonly recordBytes: Buffer;
}

interface ModelNetwork {
  revision: number;
  readonly peers: Map<string, ModelPeer>;
  readonly names: Map<string, string>;
  readonly floors: Map<string, { seq: number; until: number }>;
  readonly leases: Map<number, string>;
  readonly log: ModelEvent[];
}

class Model {
  now = CONTRACT_START_MS;
  /** Highest seq signed so far per peer, so commands can ask for "one above", "the same" and so on. */
  readonly signedSeq = new Map<string, number>();
  readonly networks = new Map<string, ModelNetwork>(
    NETWORKS.map((network) => [
      network,
      { revision: 0, peers: new Map(), names: new Map(), floors: new Map(), leases: new Map(), log: [] },
    ]),
  );
  leasesIssued = 0;
  watchers = 0;

  register(record: PeerRecord, signed: SignedRecord, ttl: number): Outcome<{ lease: number; revision: number }> {
    const net = this.networks.get(record.network) as ModelNetwork;
    const id = record.peerId;
    const current = net.peers.get(id);
    if (
      current &&
      current.deadline > this.now &&
      current.recordBytes.equals(signed.record) &&
      current.signature.equals(signed.signature)
    ) {
      // The very record held, registered again: same lease, new deadline, no event.
      current.ttl = ttl;
      current.deadline = this.now + ttl;
      return { ok: { lease: current.lease, revision: current.revision } };
    }
    if (current && record.seq <= current.seq) return { error: 'FailedPreconditionError' };
    const floor = net.floors.get(id);
    if (floor && floor.until > this.now && record.seq <= floor.seq) return { error: 'FailedPreconditionError' };
    if (!this.claimName(net, record.name, id)) return { error: 'AlreadyExistsError' };
    if (current) {
      net.leases.delete(current.lease);
      if (current.name !== '' && current.name !== record.name) net.names.delete(current.name);
    }
    const lease = (this.leasesIssued += 1);
    const revision = (net.revision += 1);
    const recordBytes = Buffer.from(signed.record);
    net.peers.set(id, {
      seq: record.seq,
      name: record.name,
      recordBytes,
      signature: Buffer.from(signed.signature),
      revision,
      lease,
      ttl,
      deadline: this.now + ttl,
    });
    if (record.name !== '') net.names.set(record.name, id);
    net.leases.set(lease, id);
    net.floors.delete(id);
    net.log.push({ type: 'put', peerId: id, revision, recordBytes });
    return { ok: { lease, revision } };
  }

  renew(lease: number): Outcome<number> {
    for (const net of this.networks.values()) {
      const id = net.leases.get(lease);
      const peer = id === undefined ? undefined : net.peers.get(id);
      if (peer && peer.deadline > this.now) {
        peer.deadline = this.now + peer.ttl;
        return { ok: peer.ttl };
      }
    }
    return { error: 'NotFoundError' };
  }

  deregister(record: PeerRecord): Outcome<number> {
    const net = this.networks.get(record.network) as ModelNetwork;
    const current = net.peers.get(record.peerId);
    if (!current) return { error: 'NotFoundError' };
    if (record.seq <= current.seq) return { error: 'FailedPreconditionError' };
    return { ok: this.remove(net, record.peerId, 'deregistered', record.seq) };
  }

  updateRecord(record: PeerRecord, signed: SignedRecord): Outcome<number> {
    const net = this.networks.get(record.network) as ModelNetwork;
    const id = record.peerId;
    const current = net.peers.get(id);
    if (!current || current.deadline <= this.now) return { error: 'NotFoundError' };
    if (record.seq <= current.seq) return { error: 'FailedPreconditionError' };
    if (!this.claimName(net, record.name, id)) return { error: 'AlreadyExistsError' };
    if (current.name !== '' && current.name !== record.name) net.names.delete(current.name);
    const revision = (net.revision += 1);
    const recordBytes = Buffer.from(signed.record);
    net.peers.set(id, {
      ...current,
      seq: record.seq,
      name: record.name,
      recordBytes,
      signature: Buffer.from(signed.signature),
      revision,
    });
    if (record.name !== '') net.names.set(record.name, id);
    net.log.push({ type: 'put', peerId: id, revision, recordBytes });
    return { ok: revision };
  }

  evict(network: string, id: string, seq: number): Outcome<number> {
    const net = this.networks.get(network) as ModelNetwork;
    const current = net.peers.get(id);
    if (!current || current.deadline <= this.now) return { error: 'NotFoundError' };
    if (current.seq !== seq) return { error: 'FailedPreconditionError' };
    return { ok: this.remove(net, id, 'evicted', current.seq) };
  }

  sweep(): number {
    let ended = 0;
    for (const net of this.networks.values()) {
      const due = [...net.peers]
        .filter(([, peer]) => peer.deadline <= this.now)
        .sort(([a, pa], [b, pb]) => pa.deadline - pb.deadline || (a < b ? -1 : 1));
      for (const [id, peer] of due) this.remove(net, id, 'expired', peer.seq);
      ended += due.length;
    }
    return ended;
  }

  /** False when another live peer holds the name; a holder whose lease ended is expired first. */
  private claimName(net: ModelNetwork, name: string, id: string): boolean {
    if (name === '') return true;
    const holderId = net.names.get(name);
    if (holderId === undefined || holderId === id) return true;
    const holder = net.peers.get(holderId) as ModelPeer;
    if (holder.deadline > this.now) return false;
    this.remove(net, holderId, 'expired', holder.seq);
    return true;
  }

  private remove(net: ModelNetwork, id: string, reason: string, floorSeq: number): number {
    const peer = net.peers.get(id) as ModelPeer;
    net.peers.delete(id);
    if (peer.name !== '') net.names.delete(peer.name);
    net.leases.delete(peer.lease);
    net.floors.set(id, { seq: floorSeq, until: this.now + FLOOR_RETENTION_MS });
    net.revision += 1;
    net.log.push({ type: 'delete', peerId: id, reason, revision: net.revision, recordBytes: peer.recordBytes });
    return net.revision;
  }
}

// ---------------------------------------------------------------------------------------------
// The stores under test, side by side.

interface Side {
  readonly label: 'memory' | 'redis';
  readonly store: DirectoryStore;
  /** Model lease number -> this store's lease id. */
  readonly leaseIds: Map<number, string>;
  readonly watchers: Array<{ network: string; from: number; recorder: EventRecorder }>;
}

interface Real {
  readonly clock: ManualClock;
  readonly sides: readonly [Side, Side];
  readonly redis: Redis;
}

/** The Redis store's revisions start from its clock; this is the model's 0 there. */
async function revisionBase(real: Real, side: Side, network: string): Promise<number> {
  if (side.label === 'memory') return 0;
  const base = await real.redis.get(`gv:{${network}}:base`);
  return base === null ? 0 : Number(base);
}

async function outcome<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await promise };
  } catch (error) {
    return { error: (error as Error).name };
  }
}

function expectSameOutcome(side: Side, actual: Outcome<unknown>, expected: Outcome<unknown>, what: string): void {
  const describe = (o: Outcome<unknown>): string => ('error' in o ? o.error : 'ok');
  if (describe(actual) !== describe(expected)) {
    throw new Error(`${side.label}: ${what} answered ${describe(actual)}, the model ${describe(expected)}`);
  }
}

function relativeEvent(event: ChangeEvent, base: number): ModelEvent {
  const relative: ModelEvent = {
    type: event.type,
    peerId: event.peerId,
    revision: event.revision - base,
    recordBytes: Buffer.from(event.signed.record),
  };
  return event.reason ? { ...relative, reason: event.reason } : relative;
}

function peerView(peer: StoredPeer, base: number, leaseOf: (leaseId: string) => number | undefined) {
  return {
    peerId: peer.record.peerId,
    recordBytes: Buffer.from(peer.signed.record),
    revision: peer.revision - base,
    lease: leaseOf(peer.leaseId),
    deadline: peer.expiresAtMs,
  };
}

/** Everything both stores must agree with the model on, after every step. */
async function checkAgreement(model: Model, real: Real): Promise<void> {
  for (const side of real.sides) {
    const leaseOf = (leaseId: string): number | undefined => [...side.leaseIds].find(([, id]) => id === leaseId)?.[0];
    for (const network of NETWORKS) {
      const net = model.networks.get(network) as ModelNetwork;
      const base = await revisionBase(real, side, network);
      const where = `${side.label} ${network}`;
      expect({ where, revision: (await side.store.revision(network)) - (net.revision === 0 ? 0 : base) }).toEqual({
        where,
        revision: net.revision,
      });

      const expectedPeers = [...net.peers]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([peerId, peer]) => ({
          peerId,
          recordBytes: peer.recordBytes,
          revision: peer.revision,
          lease: peer.lease,
          deadline: peer.deadline,
        }));
      const listed = (await listAll(side.store, network, 2)).map((peer) => peerView(peer, base, leaseOf));
      expect({ where, listed }).toEqual({ where, listed: expectedPeers });

      for (const peer of POOL.filter((candidate) => candidate.network === network)) {
        const resolved = await side.store.resolveById(network, peer.identity.peerId);
        const expected = expectedPeers.find((candidate) => candidate.peerId === peer.identity.peerId);
        expect({ where, byId: resolved && peerView(resolved, base, leaseOf) }).toEqual({ where, byId: expected });
      }
      for (const name of NAMES.filter((candidate) => candidate !== '')) {
        const resolved = await side.store.resolveByName(network, name);
        expect({ where, name, holder: resolved?.record.peerId }).toEqual({ where, name, holder: net.names.get(name) });
      }

      for (const watcher of side.watchers.filter((candidate) => candidate.network === network)) {
        const expectedEvents = net.log.filter((event) => event.revision > watcher.from);
        const events = await watcher.recorder.waitForEvents(expectedEvents.length);
        expect({ where, from: watcher.from, events: events.map((event) => relativeEvent(event, base)) }).toEqual({
          where,
          from: watcher.from,
          events: expectedEvents,
        });
        if (watcher.from === 0) {
          const live = new Map(expectedPeers.map((peer) => [peer.peerId, peer.recordBytes]));
          expect({ where, replayed: replay(events) }).toEqual({ where, replayed: live });
        }
      }
    }
    const counts = [...(await side.store.countPeers())].filter(([, count]) => count > 0);
    const expectedCounts = [...model.networks]
      .map(([network, net]) => [network, net.peers.size] as [string, number])
      .filter(([, count]) => count > 0);
    expect({ side: side.label, counts: new Map(counts) }).toEqual({
      side: side.label,
      counts: new Map(expectedCounts),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands.

type StoreCommand = fc.AsyncCommand<Model, Real>;

/** seq steps relative to the highest seq signed: replays, equal seqs, and newer records. */
const SEQ_STEPS = [-1, 0, 1, 1, 1, 2] as const;

function nextSeq(model: Model, peer: PoolPeer, step: number): number {
  const highest = model.signedSeq.get(peer.identity.peerId) ?? 0;
  const seq = Math.max(1, highest + step);
  model.signedSeq.set(peer.identity.peerId, Math.max(highest, seq));
  return seq;
}

class RegisterCommand implements StoreCommand {
  constructor(
    readonly peerIndex: number,
    readonly seqStep: number,
    readonly name: string,
    readonly ttl: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const peer = POOL[this.peerIndex];
    const { record, signed } = sign(peer, nextSeq(model, peer, this.seqStep), this.name, false);
    await this.runWith(model, real, record, signed);
  }
  async runWith(model: Model, real: Real, record: PeerRecord, signed: SignedRecord): Promise<void> {
    const peer = POOL[this.peerIndex];
    const expected = model.register(record, signed, this.ttl);
    for (const side of real.sides) {
      const actual = await outcome(side.store.register({ record, signed, ttlMs: this.ttl }));
      expectSameOutcome(side, actual, expected, this.toString());
      if ('ok' in actual && 'ok' in expected) {
        // A repeated registration answers the lease already issued.
        expect(side.leaseIds.get(expected.ok.lease) ?? actual.ok.leaseId).toBe(actual.ok.leaseId);
        side.leaseIds.set(expected.ok.lease, actual.ok.leaseId);
        const base = await revisionBase(real, side, peer.network);
        expect(actual.ok.revision - base).toBe(expected.ok.revision);
      }
    }
    await checkAgreement(model, real);
  }
  toString = (): string =>
    `register(peer ${this.peerIndex}, seq ${this.seqStep >= 0 ? '+' : ''}${this.seqStep}, name '${this.name}', ttl ${this.ttl})`;
}

/**
 * Registers again the record the model holds for the peer (signing is deterministic, so the same
 * seq and name give the same bytes and signature): a repeat while the peer is live, a stale seq
 * once its lease has ended, a replay below the floor once it is gone.
 */
class RegisterAgainCommand implements StoreCommand {
  constructor(
    readonly peerIndex: number,
    readonly ttl: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const peer = POOL[this.peerIndex];
    const id = peer.identity.peerId;
    const held = model.networks.get(peer.network)?.peers.get(id);
    const seq = held?.seq ?? model.signedSeq.get(id) ?? 1;
    model.signedSeq.set(id, Math.max(seq, model.signedSeq.get(id) ?? 0));
    const { record, signed } = sign(peer, seq, held?.name ?? '', false);
    await new RegisterCommand(this.peerIndex, 0, record.name, this.ttl).runWith(model, real, record, signed);
  }
  toString = (): string => `registerAgain(peer ${this.peerIndex}, ttl ${this.ttl})`;
}

class RenewCommand implements StoreCommand {
  constructor(readonly pick: number) {}
  check = (model: Readonly<Model>): boolean => model.leasesIssued > 0;
  async run(model: Model, real: Real): Promise<void> {
    const lease = (this.pick % model.leasesIssued) + 1;
    const expected = model.renew(lease);
    for (const side of real.sides) {
      const leaseId = side.leaseIds.get(lease) as string;
      const actual = await outcome(side.store.renew(leaseId));
      expectSameOutcome(side, actual, expected, this.toString());
      if ('ok' in actual && 'ok' in expected) expect(actual.ok.ttlMs).toBe(expected.ok);
    }
    await checkAgreement(model, real);
  }
  toString = (): string => `renew(lease pick ${this.pick})`;
}

class DeregisterCommand implements StoreCommand {
  constructor(
    readonly peerIndex: number,
    readonly seqStep: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const peer = POOL[this.peerIndex];
    const { record, signed } = sign(peer, nextSeq(model, peer, this.seqStep), '', true);
    const expected = model.deregister(record);
    for (const side of real.sides) {
      const actual = await outcome(side.store.deregister(record, signed));
      expectSameOutcome(side, actual, expected, this.toString());
      if ('ok' in actual && 'ok' in expected) {
        expect(actual.ok.revision - (await revisionBase(real, side, peer.network))).toBe(expected.ok);
      }
    }
    await checkAgreement(model, real);
  }
  toString = (): string => `deregister(peer ${this.peerIndex}, seq ${this.seqStep >= 0 ? '+' : ''}${this.seqStep})`;
}

class UpdateRecordCommand implements StoreCommand {
  constructor(
    readonly peerIndex: number,
    readonly seqStep: number,
    readonly name: string,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const peer = POOL[this.peerIndex];
    const { record, signed } = sign(peer, nextSeq(model, peer, this.seqStep), this.name, false);
    const expected = model.updateRecord(record, signed);
    for (const side of real.sides) {
      const actual = await outcome(side.store.updateRecord(record, signed));
      expectSameOutcome(side, actual, expected, this.toString());
      if ('ok' in actual && 'ok' in expected) {
        expect(actual.ok.revision - (await revisionBase(real, side, peer.network))).toBe(expected.ok);
      }
    }
    await checkAgreement(model, real);
  }
  toString = (): string =>
    `updateRecord(peer ${this.peerIndex}, seq ${this.seqStep >= 0 ? '+' : ''}${this.seqStep}, name '${this.name}')`;
}

class EvictCommand implements StoreCommand {
  constructor(
    readonly peerIndex: number,
    readonly seqDelta: number,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    const peer = POOL[this.peerIndex];
    const id = peer.identity.peerId;
    // Relative to the seq the model holds (live or not), else to the highest signed.
    const held = model.networks.get(peer.network)?.peers.get(id)?.seq ?? model.signedSeq.get(id) ?? 1;
    const seq = Math.max(1, held + this.seqDelta);
    const expected = model.evict(peer.network, id, seq);
    for (const side of real.sides) {
      const actual = await outcome(side.store.evict(peer.network, id, seq));
      expectSameOutcome(side, actual, expected, this.toString());
      if ('ok' in actual && 'ok' in expected) {
        expect(actual.ok.revision - (await revisionBase(real, side, peer.network))).toBe(expected.ok);
      }
    }
    await checkAgreement(model, real);
  }
  toString = (): string => `evict(peer ${this.peerIndex}, held seq ${this.seqDelta >= 0 ? '+' : ''}${this.seqDelta})`;
}

class AdvanceCommand implements StoreCommand {
  constructor(
    readonly ms: number,
    readonly sweep: boolean,
  ) {}
  check = (): boolean => true;
  async run(model: Model, real: Real): Promise<void> {
    model.now += this.ms;
    real.clock.advance(this.ms);
    if (this.sweep) {
      const expected = model.sweep();
      for (const side of real.sides)
        expect({ side: side.label, ended: await side.store.sweepExpired() }).toEqual({
          side: side.label,
          ended: expected,
        });
    }
    await checkAgreement(model, real);
  }
  toString = (): string => `advance(${this.ms} ms${this.sweep ? ', sweep' : ''})`;
}

class WatchCommand implements StoreCommand {
  constructor(
    readonly network: string,
    readonly fraction: number,
  ) {}
  check = (model: Readonly<Model>): boolean => model.watchers < 3;
  async run(model: Model, real: Real): Promise<void> {
    model.watchers += 1;
    const net = model.networks.get(this.network) as ModelNetwork;
    const from = Math.floor(this.fraction * net.revision);
    for (const side of real.sides) {
      // Revision 0 means "from the empty start" in both stores, whatever their first revision.
      const base = from === 0 ? 0 : await revisionBase(real, side, this.network);
      const recorder = await EventRecorder.start(side.store, this.network, from + base);
      side.watchers.push({ network: this.network, from, recorder });
    }
    await checkAgreement(model, real);
  }
  toString = (): string => `watch(${this.network}, from ${this.fraction.toFixed(2)} of the current revision)`;
}

const registerCommand = fc
  .tuple(
    fc.nat({ max: POOL.length - 1 }),
    fc.constantFrom(...SEQ_STEPS),
    fc.constantFrom(...NAMES),
    fc.constantFrom(...TTLS_MS),
  )
  .map(([peer, step, name, ttl]) => new RegisterCommand(peer, step, name, ttl));

/** fc.commands picks among these evenly; register is listed three times to weigh it so. */
const COMMANDS = [
  registerCommand,
  registerCommand,
  registerCommand,
  fc
    .tuple(fc.nat({ max: POOL.length - 1 }), fc.constantFrom(...TTLS_MS))
    .map(([peer, ttl]) => new RegisterAgainCommand(peer, ttl)),
  fc.nat({ max: 1_000 }).map((pick) => new RenewCommand(pick)),
  fc
    .tuple(fc.nat({ max: POOL.length - 1 }), fc.constantFrom(-1, 0, 1, 1))
    .map(([peer, step]) => new DeregisterCommand(peer, step)),
  fc
    .tuple(fc.nat({ max: POOL.length - 1 }), fc.constantFrom(...SEQ_STEPS), fc.constantFrom(...NAMES))
    .map(([peer, step, name]) => new UpdateRecordCommand(peer, step, name)),
  fc
    .tuple(fc.nat({ max: POOL.length - 1 }), fc.constantFrom(-1, 0, 0, 1))
    .map(([peer, delta]) => new EvictCommand(peer, delta)),
  fc
    .tuple(fc.constantFrom(0, 500, 1_000, 4_000, 15_000, 30_000), fc.boolean())
    .map(([ms, sweep]) => new AdvanceCommand(ms, sweep)),
  fc
    .tuple(fc.constantFrom(...NETWORKS), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([network, fraction]) => new WatchCommand(network, fraction)),
];

// ---------------------------------------------------------------------------------------------

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createDirectoryRedis(server.url);
  await waitForRedis(redis, 5_000);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

it('memory store, Redis store and a simple model agree on every step', async () => {
  const seed = process.env.GRAPEVINE_SEED ? Number(process.env.GRAPEVINE_SEED) : Date.now() % 2 ** 31;
  // Logged so a failure can be replayed with GRAPEVINE_SEED.
  console.info(`store model test seed: ${seed}`);
  await fc.assert(
    fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: MAX_COMMANDS, size: 'max' }), async (commands) => {
      await redis.flushall();
      const clock = new ManualClock();
      const options = { logRetention: 10_000, seqFloorRetentionMs: FLOOR_RETENTION_MS, now: clock.now };
      const memory: Side = { label: 'memory', store: createMemoryStore(options), leaseIds: new Map(), watchers: [] };
      const redisSide: Side = {
        label: 'redis',
        // A tiny batch makes sweeps cross batch boundaries.
        store: createRedisStore({ redis }, { ...options, sweepBatchSize: 2 }),
        leaseIds: new Map(),
        watchers: [],
      };
      const real: Real = { clock, sides: [memory, redisSide], redis };
      try {
        // A watcher from revision 0 on every network of every store, from before the first write.
        for (const side of real.sides) {
          for (const network of NETWORKS) {
            side.watchers.push({ network, from: 0, recorder: await EventRecorder.start(side.store, network, 0) });
          }
        }
        await fc.asyncModelRun(() => ({ model: new Model(), real }), commands);
      } finally {
        for (const side of real.sides) {
          for (const watcher of side.watchers) watcher.recorder.close();
          await side.store.close();
        }
      }
    }),
    { numRuns: NUM_RUNS, seed },
  );
  // A fixed amount of work (NUM_RUNS sequences against a real redis-server): about 20 s on a quiet
  // machine, and once past 60 s on a busy one. The limit only catches a hang.
}, 180_000);
