/**
 * The one contract every DirectoryStore passes (memory-store.test.ts and redis-store.test.ts run
 * it). Revisions are compared relatively (consecutive, increasing), never by value: the Redis store
 * starts a network's revisions from its clock.
 */
import { Identity, generateIdentity } from '../../common/identity';
import { PeerRecord, SignedRecord, openRecord, signRecord } from '../../common/records';
import { ChangeEvent, DirectoryStore, StoreOptions, StoredPeer, Subscription } from './store';

export interface StoreHarness {
  readonly store: DirectoryStore;
  /** Closes the store and whatever the factory started for it. */
  close(): Promise<void>;
}

/** Makes a store over empty state, using the given options (and clock). */
export type StoreFactory = (options: StoreOptions) => Promise<StoreHarness>;

export const CONTRACT_START_MS = 1_700_000_000_000;
const TTL_MS = 30_000;
const FLOOR_RETENTION_MS = 60_000;
/** How long a test waits for an event before it says which one it missed. */
const EVENT_WAIT_MS = 5_000;

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public ms: number = CONTRACT_START_MS) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** A peer that signs its own records, with a seq that grows on every record. */
export class TestPeer {
  readonly identity: Identity = generateIdentity();
  private seq = 0;

  constructor(
    readonly network: string,
    public name = '',
  ) {}

  get peerId(): string {
    return this.identity.peerId;
  }

  /** A new signed record (seq + 1 unless given). */
  record(fields: { seq?: number; name?: string; withdrawn?: boolean; port?: number } = {}): {
    record: PeerRecord;
    signed: SignedRecord;
  } {
    this.seq = fields.seq ?? this.seq + 1;
    const signed = signRecord(this.identity, {
      network: this.network,
      name: fields.name ?? this.name,
      addresses: fields.withdrawn ? [] : [`10.0.0.1:${fields.port ?? 7000 + (this.seq % 1000)}`],
      labels: { zone: 'a' },
      seq: this.seq,
      issuedAtMs: CONTRACT_START_MS + this.seq,
      withdrawn: fields.withdrawn ?? false,
    });
    return { record: openRecord(signed), signed };
  }

  registration(ttlMs = TTL_MS, fields: { seq?: number; name?: string } = {}) {
    return { ...this.record(fields), ttlMs };
  }

  tombstone(seq?: number): { record: PeerRecord; signed: SignedRecord } {
    return this.record({ seq, withdrawn: true });
  }
}

/** Collects what a watch delivers and lets a test await a count of events or an error. */
export class EventRecorder {
  readonly events: ChangeEvent[] = [];
  error: Error | undefined;
  subscription: Subscription | undefined;
  private waiters: Array<() => void> = [];

  readonly handlers = {
    onEvent: (event: ChangeEvent): void => {
      this.events.push(event);
      this.wake();
    },
    onError: (error: Error): void => {
      this.error = error;
      this.wake();
    },
  };

  static async start(store: DirectoryStore, network: string, from: number | undefined): Promise<EventRecorder> {
    const recorder = new EventRecorder();
    recorder.subscription = await store.watch(network, from, recorder.handlers);
    return recorder;
  }

  /** Resolves once `count` events have arrived; rejects on a watch error or after EVENT_WAIT_MS. */
  waitForEvents(count: number): Promise<ChangeEvent[]> {
    return this.until(() => this.events.length >= count, `${count} events`).then(() => this.events);
  }

  /** Resolves with the error the watch ended with. */
  waitForError(): Promise<Error> {
    return this.until(() => this.error !== undefined, 'a watch error', true).then(() => this.error as Error);
  }

  close(): void {
    this.subscription?.close();
  }

  private until(done: () => boolean, what: string, errorExpected = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (!errorExpected && this.error) {
          reject(new Error(`watch failed while waiting for ${what}: ${this.error.name}: ${this.error.message}`));
          return true;
        }
        if (done()) {
          resolve();
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== onWake);
        reject(new Error(`waited ${EVENT_WAIT_MS} ms for ${what}; got ${this.events.length} events`));
      }, EVENT_WAIT_MS);
      const onWake = (): void => {
        if (check()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((waiter) => waiter !== onWake);
        }
      };
      this.waiters.push(onWake);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** The peers a sequence of events leaves, by id: what a watcher rebuilds from the log. */
export function replay(events: readonly ChangeEvent[], start = new Map<string, Buffer>()): Map<string, Buffer> {
  const state = new Map(start);
  for (const event of events) {
    if (event.type === 'put') state.set(event.peerId, Buffer.from(event.signed.record));
    else state.delete(event.peerId);
  }
  return state;
}

export async function listAll(store: DirectoryStore, network: string, scanLimit = 1_000): Promise<StoredPeer[]> {
  const peers: StoredPeer[] = [];
  let after: string | undefined;
  do {
    const page = await store.list(network, { after, scanLimit });
    peers.push(...page.peers);
    after = page.nextAfter;
  } while (after !== undefined);
  return peers;
}

export function expectConsecutive(revisions: readonly number[]): void {
  for (let i = 1; i < revisions.length; i += 1) expect(revisions[i]).toBe(revisions[0] + i);
}

async function expectRejectsNamed(promise: Promise<unknown>, name: string): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(Error);
  expect((caught as Error).name).toBe(name);
  return caught as Error;
}

function short(event: ChangeEvent): { type: string; peerId: string; reason?: string } {
  return event.reason
    ? { type: event.type, peerId: event.peerId, reason: event.reason }
    : { type: event.type, peerId: event.peerId };
}

export function describeStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name} store contract`, () => {
    let clock: ManualClock;
    let harness: StoreHarness | undefined;
    let store: DirectoryStore;
    const recorders: EventRecorder[] = [];
    const net = 'contract';

    async function open(overrides: Partial<StoreOptions> = {}): Promise<DirectoryStore> {
      await harness?.close();
      clock = new ManualClock();
      harness = await factory({
        logRetention: 1_000,
        seqFloorRetentionMs: FLOOR_RETENTION_MS,
        now: clock.now,
        ...overrides,
      });
      store = harness.store;
      return store;
    }

    async function watch(from: number | undefined, network = net): Promise<EventRecorder> {
      const recorder = await EventRecorder.start(store, network, from);
      recorders.push(recorder);
      return recorder;
    }

    beforeEach(async () => {
      await open();
    });

    afterEach(async () => {
      for (const recorder of recorders.splice(0)) recorder.close();
      await harness?.close();
      harness = undefined;
    });

    describe('register and resolve', () => {
      it('stores a record that resolves by id and by name, with its lease and revision', async () => {
        const peer = new TestPeer(net, 'alpha');
        const registration = peer.registration();
        const { leaseId, revision } = await store.register(registration);
        expect(leaseId.startsWith(`${net}.`)).toBe(true);
        const byId = await store.resolveById(net, peer.peerId);
        expect(byId).toBeDefined();
        expect(byId?.record).toEqual(registration.record);
        expect(Buffer.from(byId!.signed.record).equals(registration.signed.record)).toBe(true);
        expect(Buffer.from(byId!.signed.signature).equals(registration.signed.signature)).toBe(true);
        expect(byId?.revision).toBe(revision);
        expect(byId?.leaseId).toBe(leaseId);
        expect(byId?.expiresAtMs).toBe(clock.ms + TTL_MS);
        expect(await store.resolveByName(net, 'alpha')).toEqual(byId);
        expect(await store.revision(net)).toBe(revision);
      });

      it('answers undefined for unknown peers, names and networks', async () => {
        const peer = new TestPeer(net);
        expect(await store.resolveById(net, peer.peerId)).toBeUndefined();
        expect(await store.resolveByName(net, 'nobody')).toBeUndefined();
        expect(await store.resolveById('elsewhere', peer.peerId)).toBeUndefined();
        expect(await store.revision('elsewhere')).toBe(0);
      });

      it('gives every change the next revision of its network, and keeps networks apart', async () => {
        const a = new TestPeer(net);
        const b = new TestPeer(net);
        const other = new TestPeer('other');
        const revisions = [
          (await store.register(a.registration())).revision,
          (await store.register(b.registration())).revision,
          (await store.register(a.registration())).revision,
          (await store.deregister(...tombstoneArgs(b))).revision,
        ];
        expectConsecutive(revisions);
        const otherRevision = (await store.register(other.registration())).revision;
        expect(await store.revision(net)).toBe(revisions[3]);
        expect(await store.revision('other')).toBe(otherRevision);
        expect(await store.resolveById('other', a.peerId)).toBeUndefined();
      });

      it('replaces the record of a peer that registers again with a higher seq, ending its old lease', async () => {
        const peer = new TestPeer(net, 'alpha');
        const first = await store.register(peer.registration());
        const secondRegistration = peer.registration(TTL_MS, { name: 'beta' });
        const second = await store.register(secondRegistration);
        expect(second.revision).toBe(first.revision + 1);
        expect(second.leaseId).not.toBe(first.leaseId);
        await expectRejectsNamed(store.renew(first.leaseId), 'NotFoundError');
        expect(await store.renew(second.leaseId)).toEqual({ ttlMs: TTL_MS });
        expect((await store.resolveById(net, peer.peerId))?.record).toEqual(secondRegistration.record);
        // The old name is free, the new one is held.
        expect(await store.resolveByName(net, 'alpha')).toBeUndefined();
        expect((await store.resolveByName(net, 'beta'))?.record.peerId).toBe(peer.peerId);
        const other = new TestPeer(net, 'alpha');
        await store.register(other.registration());
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(other.peerId);
      });

      it('refuses an equal or older seq, naming both seqs, and changes nothing', async () => {
        const peer = new TestPeer(net, 'alpha');
        await store.register(peer.registration(TTL_MS, { seq: 5 }));
        const before = await store.revision(net);
        for (const seq of [5, 4]) {
          const error = await expectRejectsNamed(
            store.register(peer.registration(TTL_MS, { seq, name: 'beta' })),
            'FailedPreconditionError',
          );
          expect(error.message).toContain(`seq ${seq}`);
          expect(error.message).toContain('seq 5');
        }
        expect(await store.revision(net)).toBe(before);
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(5);
        expect(await store.resolveByName(net, 'beta')).toBeUndefined();
      });

      it('gives a name to the first live peer and names the holder to the next', async () => {
        const first = new TestPeer(net, 'alpha');
        const second = new TestPeer(net, 'alpha');
        await store.register(first.registration());
        const before = await store.revision(net);
        const error = await expectRejectsNamed(store.register(second.registration()), 'AlreadyExistsError');
        expect(error.message).toContain(first.peerId);
        expect(await store.revision(net)).toBe(before);
        expect(await store.resolveById(net, second.peerId)).toBeUndefined();
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(first.peerId);
      });

      it('lets a peer keep its name across re-registrations', async () => {
        const peer = new TestPeer(net, 'alpha');
        await store.register(peer.registration());
        await store.register(peer.registration());
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(peer.peerId);
      });

      it('hands the name of a peer whose lease has ended (not yet swept) to a new peer, logging the expiry first', async () => {
        const first = new TestPeer(net, 'alpha');
        const { revision } = await store.register(first.registration(1_000));
        const recorder = await watch(revision);
        clock.advance(1_000);
        const second = new TestPeer(net, 'alpha');
        const result = await store.register(second.registration());
        expect(result.revision).toBe(revision + 2);
        const events = await recorder.waitForEvents(2);
        expect(events.map(short)).toEqual([
          { type: 'delete', peerId: first.peerId, reason: 'expired' },
          { type: 'put', peerId: second.peerId },
        ]);
        expect(await store.resolveById(net, first.peerId)).toBeUndefined();
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(second.peerId);
      });

      it('answers the held lease and revision when the same record is registered again, logging nothing', async () => {
        const peer = new TestPeer(net, 'alpha');
        const registration = peer.registration(TTL_MS);
        const first = await store.register(registration);
        const recorder = await watch(first.revision);
        clock.advance(10_000);
        const again = await store.register({ ...registration, ttlMs: 20_000 });
        expect(again).toEqual(first);
        const held = await store.resolveById(net, peer.peerId);
        expect(held?.leaseId).toBe(first.leaseId);
        expect(held?.revision).toBe(first.revision);
        // The deadline moves to now + the TTL of the repeated registration, which renewals keep.
        expect(held?.expiresAtMs).toBe(clock.ms + 20_000);
        expect(await store.renew(first.leaseId)).toEqual({ ttlMs: 20_000 });
        expect(await store.revision(net)).toBe(first.revision);
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(peer.peerId);
        // The next change is the next revision, and the first event the watcher sees.
        const other = new TestPeer(net);
        const next = await store.register(other.registration());
        expect(next.revision).toBe(first.revision + 1);
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({ type: 'put', peerId: other.peerId, revision: next.revision });
      });

      it('refuses the same record bytes with another signature as a stale seq', async () => {
        const peer = new TestPeer(net);
        const registration = peer.registration(TTL_MS, { seq: 4 });
        await store.register(registration);
        const signature = Buffer.from(registration.signed.signature);
        signature[0] ^= 1;
        const before = await store.revision(net);
        const error = await expectRejectsNamed(
          store.register({ ...registration, signed: { record: registration.signed.record, signature } }),
          'FailedPreconditionError',
        );
        expect(error.message).toContain('seq 4');
        expect(await store.revision(net)).toBe(before);
        const held = await store.resolveById(net, peer.peerId);
        expect(Buffer.from(held!.signed.signature).equals(registration.signed.signature)).toBe(true);
      });

      it('refuses the same record once its lease has ended, before and after the sweep', async () => {
        const peer = new TestPeer(net);
        const registration = peer.registration(1_000, { seq: 2 });
        const { leaseId } = await store.register(registration);
        clock.advance(1_000);
        await expectRejectsNamed(store.register(registration), 'FailedPreconditionError');
        await expectRejectsNamed(store.renew(leaseId), 'NotFoundError');
        await store.sweepExpired();
        await expectRejectsNamed(store.register(registration), 'FailedPreconditionError');
        expect(await store.resolveById(net, peer.peerId)).toBeUndefined();
      });

      it('rejects a TTL that is not a positive whole number of ms', async () => {
        const peer = new TestPeer(net);
        await expectRejectsNamed(store.register(peer.registration(0)), 'InvalidArgumentError');
        await expectRejectsNamed(store.register(peer.registration(1.5)), 'InvalidArgumentError');
        expect(await store.revision(net)).toBe(0);
      });
    });

    describe('renew', () => {
      it('moves the deadline to now + TTL, so a sweep at the old deadline keeps the peer', async () => {
        const peer = new TestPeer(net);
        const { leaseId } = await store.register(peer.registration(10_000));
        clock.advance(6_000);
        expect(await store.renew(leaseId)).toEqual({ ttlMs: 10_000 });
        expect((await store.resolveById(net, peer.peerId))?.expiresAtMs).toBe(clock.ms + 10_000);
        clock.advance(5_000);
        expect(await store.sweepExpired()).toBe(0);
        expect(await store.resolveById(net, peer.peerId)).toBeDefined();
      });

      it('answers NotFound for unknown, malformed and ended leases', async () => {
        const peer = new TestPeer(net);
        const { leaseId } = await store.register(peer.registration(1_000));
        for (const bad of [
          '',
          'nonsense',
          `${net}.aaaaaaaaaaaaaaaaaaaaaaaa`,
          `other.${leaseId.slice(net.length + 1)}`,
          `${leaseId}x`,
        ]) {
          await expectRejectsNamed(store.renew(bad), 'NotFoundError');
        }
        clock.advance(1_000);
        // The deadline has passed: the lease is over even before a sweep removes the peer.
        await expectRejectsNamed(store.renew(leaseId), 'NotFoundError');
        await store.sweepExpired();
        await expectRejectsNamed(store.renew(leaseId), 'NotFoundError');
      });

      it('does not change the revision', async () => {
        const peer = new TestPeer(net);
        const { leaseId, revision } = await store.register(peer.registration());
        await store.renew(leaseId);
        expect(await store.revision(net)).toBe(revision);
      });
    });

    describe('deregister', () => {
      it('removes the peer, frees its name, ends its lease and logs why', async () => {
        const peer = new TestPeer(net, 'alpha');
        const registration = peer.registration();
        const { leaseId, revision } = await store.register(registration);
        const recorder = await watch(revision);
        const result = await store.deregister(...tombstoneArgs(peer));
        expect(result.revision).toBe(revision + 1);
        expect(await store.resolveById(net, peer.peerId)).toBeUndefined();
        expect(await store.resolveByName(net, 'alpha')).toBeUndefined();
        await expectRejectsNamed(store.renew(leaseId), 'NotFoundError');
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({
          type: 'delete',
          peerId: peer.peerId,
          reason: 'deregistered',
          revision: result.revision,
        });
        // A delete carries the last record held.
        expect(Buffer.from(event.signed.record).equals(registration.signed.record)).toBe(true);
        expect((await store.countPeers()).get(net)).toBe(0);
      });

      it('answers NotFound for a peer that is not registered', async () => {
        const peer = new TestPeer(net);
        await expectRejectsNamed(store.deregister(...tombstoneArgs(peer)), 'NotFoundError');
        expect(await store.revision(net)).toBe(0);
      });

      it('refuses a withdrawal that is not newer than the record held', async () => {
        const peer = new TestPeer(net);
        await store.register(peer.registration(TTL_MS, { seq: 7 }));
        const tombstone = peer.tombstone(7);
        const error = await expectRejectsNamed(
          store.deregister(tombstone.record, tombstone.signed),
          'FailedPreconditionError',
        );
        expect(error.message).toContain('seq 7');
        expect(await store.resolveById(net, peer.peerId)).toBeDefined();
      });

      it('leaves a seq floor that refuses replays until it lapses', async () => {
        const peer = new TestPeer(net);
        const old = peer.registration(TTL_MS, { seq: 3 });
        await store.register(old);
        const tombstone = peer.tombstone(4);
        await store.deregister(tombstone.record, tombstone.signed);
        const error = await expectRejectsNamed(store.register(old), 'FailedPreconditionError');
        expect(error.message).toContain('seq 3');
        expect(error.message).toContain('seq 4');
        await expectRejectsNamed(store.register(peer.registration(TTL_MS, { seq: 4 })), 'FailedPreconditionError');
        clock.advance(FLOOR_RETENTION_MS);
        // The floor has lapsed: the directory no longer remembers the peer at all.
        await store.register(old);
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(3);
      });
    });

    describe('updateRecord', () => {
      it('replaces the record and logs a put, keeping the lease id, TTL and deadline', async () => {
        const peer = new TestPeer(net, 'alpha');
        const first = await store.register(peer.registration(10_000));
        const deadline = clock.ms + 10_000;
        const recorder = await watch(first.revision);
        clock.advance(3_000);
        const update = peer.record({ port: 7999 });
        const { revision } = await store.updateRecord(update.record, update.signed);
        expect(revision).toBe(first.revision + 1);
        const held = await store.resolveById(net, peer.peerId);
        expect(held?.record).toEqual(update.record);
        expect(held?.revision).toBe(revision);
        expect(held?.leaseId).toBe(first.leaseId);
        expect(held?.expiresAtMs).toBe(deadline);
        expect((await store.resolveByName(net, 'alpha'))?.record.seq).toBe(update.record.seq);
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({ type: 'put', peerId: peer.peerId, revision });
        expect(Buffer.from(event.signed.record).equals(update.signed.record)).toBe(true);
        expect(await store.renew(first.leaseId)).toEqual({ ttlMs: 10_000 });
      });

      it('claims a new name and frees the old one', async () => {
        const peer = new TestPeer(net, 'alpha');
        await store.register(peer.registration());
        const update = peer.record({ name: 'beta' });
        await store.updateRecord(update.record, update.signed);
        expect((await store.resolveByName(net, 'beta'))?.record.peerId).toBe(peer.peerId);
        expect(await store.resolveByName(net, 'alpha')).toBeUndefined();
        const other = new TestPeer(net, 'alpha');
        await store.register(other.registration());
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(other.peerId);
        const unnamed = peer.record({ name: '' });
        await store.updateRecord(unnamed.record, unnamed.signed);
        expect(await store.resolveByName(net, 'beta')).toBeUndefined();
      });

      it('refuses a name another live peer holds, and changes nothing', async () => {
        const holder = new TestPeer(net, 'beta');
        const peer = new TestPeer(net, 'alpha');
        await store.register(holder.registration());
        await store.register(peer.registration());
        const before = await store.revision(net);
        const update = peer.record({ name: 'beta' });
        const error = await expectRejectsNamed(store.updateRecord(update.record, update.signed), 'AlreadyExistsError');
        expect(error.message).toContain(holder.peerId);
        expect(await store.revision(net)).toBe(before);
        expect((await store.resolveByName(net, 'beta'))?.record.peerId).toBe(holder.peerId);
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(peer.peerId);
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(update.record.seq - 1);
      });

      it('takes a name whose holder has an ended lease, logging the expiry first', async () => {
        const holder = new TestPeer(net, 'beta');
        const peer = new TestPeer(net, 'alpha');
        await store.register(holder.registration(1_000));
        const { revision } = await store.register(peer.registration());
        const recorder = await watch(revision);
        clock.advance(1_000);
        const update = peer.record({ name: 'beta' });
        expect((await store.updateRecord(update.record, update.signed)).revision).toBe(revision + 2);
        const events = await recorder.waitForEvents(2);
        expect(events.map(short)).toEqual([
          { type: 'delete', peerId: holder.peerId, reason: 'expired' },
          { type: 'put', peerId: peer.peerId },
        ]);
        expect((await store.resolveByName(net, 'beta'))?.record.peerId).toBe(peer.peerId);
      });

      it('answers NotFound for a peer that is not live, and changes nothing', async () => {
        const unknown = new TestPeer(net);
        const update = unknown.record();
        await expectRejectsNamed(store.updateRecord(update.record, update.signed), 'NotFoundError');
        expect(await store.revision(net)).toBe(0);
        const ending = new TestPeer(net);
        const { revision } = await store.register(ending.registration(1_000));
        clock.advance(1_000);
        const late = ending.record();
        await expectRejectsNamed(store.updateRecord(late.record, late.signed), 'NotFoundError');
        expect(await store.revision(net)).toBe(revision);
        expect((await store.resolveById(net, ending.peerId))?.record.seq).toBe(late.record.seq - 1);
      });

      it('refuses an equal or older seq, naming both seqs, and changes nothing', async () => {
        const peer = new TestPeer(net);
        await store.register(peer.registration(TTL_MS, { seq: 5 }));
        const before = await store.revision(net);
        for (const seq of [5, 4]) {
          const update = peer.record({ seq, port: 7777 });
          const error = await expectRejectsNamed(
            store.updateRecord(update.record, update.signed),
            'FailedPreconditionError',
          );
          expect(error.message).toContain(`seq ${seq}`);
          expect(error.message).toContain('seq 5');
        }
        expect(await store.revision(net)).toBe(before);
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(5);
      });
    });

    describe('evict', () => {
      it('removes the peer holding that seq, frees its name, ends its lease and logs why', async () => {
        const peer = new TestPeer(net, 'alpha');
        const registration = peer.registration(TTL_MS, { seq: 3 });
        const { leaseId, revision } = await store.register(registration);
        const recorder = await watch(revision);
        const result = await store.evict(net, peer.peerId, 3);
        expect(result.revision).toBe(revision + 1);
        expect(await store.resolveById(net, peer.peerId)).toBeUndefined();
        expect(await store.resolveByName(net, 'alpha')).toBeUndefined();
        await expectRejectsNamed(store.renew(leaseId), 'NotFoundError');
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({
          type: 'delete',
          peerId: peer.peerId,
          reason: 'evicted',
          revision: result.revision,
        });
        expect(Buffer.from(event.signed.record).equals(registration.signed.record)).toBe(true);
        expect((await store.countPeers()).get(net)).toBe(0);
        const other = new TestPeer(net, 'alpha');
        await store.register(other.registration());
      });

      it('leaves a seq floor at the evicted seq, as an expiry does', async () => {
        const peer = new TestPeer(net);
        const registration = peer.registration(TTL_MS, { seq: 3 });
        await store.register(registration);
        await store.evict(net, peer.peerId, 3);
        const error = await expectRejectsNamed(store.register(registration), 'FailedPreconditionError');
        expect(error.message).toContain('seq 3');
        await store.register(peer.registration(TTL_MS, { seq: 4 }));
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(4);
      });

      it('refuses any other seq, naming both, and changes nothing', async () => {
        const peer = new TestPeer(net, 'alpha');
        await store.register(peer.registration(TTL_MS, { seq: 5 }));
        const before = await store.revision(net);
        for (const seq of [4, 6]) {
          const error = await expectRejectsNamed(store.evict(net, peer.peerId, seq), 'FailedPreconditionError');
          expect(error.message).toContain(`seq ${seq}`);
          expect(error.message).toContain('seq 5');
        }
        expect(await store.revision(net)).toBe(before);
        expect((await store.resolveById(net, peer.peerId))?.record.seq).toBe(5);
        expect((await store.resolveByName(net, 'alpha'))?.record.peerId).toBe(peer.peerId);
      });

      it('answers NotFound for a peer that is not live, and changes nothing', async () => {
        const unknown = new TestPeer(net);
        await expectRejectsNamed(store.evict(net, unknown.peerId, 1), 'NotFoundError');
        await expectRejectsNamed(store.evict('elsewhere', unknown.peerId, 1), 'NotFoundError');
        expect(await store.revision(net)).toBe(0);
        const ending = new TestPeer(net);
        const { revision } = await store.register(ending.registration(1_000, { seq: 2 }));
        clock.advance(1_000);
        await expectRejectsNamed(store.evict(net, ending.peerId, 2), 'NotFoundError');
        expect(await store.revision(net)).toBe(revision);
        // The sweep still ends it as an expiry.
        const recorder = await watch(revision);
        expect(await store.sweepExpired()).toBe(1);
        const [event] = await recorder.waitForEvents(1);
        expect(event.reason).toBe('expired');
      });
    });

    describe('sweepExpired', () => {
      it('ends leases whose deadline has passed, freeing names and leaving floors, once', async () => {
        const dying = new TestPeer(net, 'alpha');
        const living = new TestPeer(net, 'beta');
        const registration = dying.registration(1_000, { seq: 9 });
        const { revision } = await store.register(registration);
        await store.register(living.registration(5_000));
        const recorder = await watch(revision + 1);
        clock.advance(999);
        expect(await store.sweepExpired()).toBe(0);
        clock.advance(1);
        expect(await store.sweepExpired()).toBe(1);
        expect(await store.sweepExpired()).toBe(0);
        expect(await store.resolveById(net, dying.peerId)).toBeUndefined();
        expect(await store.resolveByName(net, 'alpha')).toBeUndefined();
        expect(await store.resolveById(net, living.peerId)).toBeDefined();
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({
          type: 'delete',
          peerId: dying.peerId,
          reason: 'expired',
          revision: revision + 2,
        });
        expect(Buffer.from(event.signed.record).equals(registration.signed.record)).toBe(true);
        await expectRejectsNamed(store.register(registration), 'FailedPreconditionError');
        await store.register(dying.registration(1_000, { seq: 10 }));
      });

      it('ends each lease once when sweeps run at the same time', async () => {
        const peers = Array.from({ length: 20 }, (_, i) => new TestPeer(i % 2 === 0 ? net : 'other'));
        for (const peer of peers) await store.register(peer.registration(1_000));
        const start = await store.revision(net);
        const recorder = await watch(start);
        clock.advance(1_000);
        const counts = await Promise.all([store.sweepExpired(), store.sweepExpired(), store.sweepExpired()]);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(20);
        const events = await recorder.waitForEvents(10);
        expect(events.every((event) => event.type === 'delete' && event.reason === 'expired')).toBe(true);
        expect(new Set(events.map((event) => event.peerId)).size).toBe(10);
        expectConsecutive(events.map((event) => event.revision));
        expect(await store.revision(net)).toBe(start + 10);
        expect((await store.countPeers()).get(net)).toBe(0);
      });

      it('ends many leases in (deadline, peer id) order', async () => {
        const peers = Array.from({ length: 40 }, () => new TestPeer(net));
        for (const [index, peer] of peers.entries()) await store.register(peer.registration(1_000 + (index % 3)));
        const start = await store.revision(net);
        const recorder = await watch(start);
        clock.advance(10_000);
        expect(await store.sweepExpired()).toBe(40);
        const events = await recorder.waitForEvents(40);
        const expected = peers
          .map((peer, index) => ({ id: peer.peerId, deadline: 1_000 + (index % 3) }))
          .sort((a, b) => a.deadline - b.deadline || (a.id < b.id ? -1 : 1))
          .map((entry) => entry.id);
        expect(events.map((event) => event.peerId)).toEqual(expected);
        expect(await listAll(store, net)).toEqual([]);
      });
    });

    describe('list', () => {
      it('pages through peers in id order with the revision it read at', async () => {
        const peers = Array.from({ length: 7 }, () => new TestPeer(net));
        for (const peer of peers) await store.register(peer.registration());
        await store.register(new TestPeer('other').registration());
        const ids = peers.map((peer) => peer.peerId).sort();
        const revision = await store.revision(net);
        const first = await store.list(net, { scanLimit: 3 });
        expect(first.peers.map((peer) => peer.record.peerId)).toEqual(ids.slice(0, 3));
        expect(first.nextAfter).toBe(ids[2]);
        expect(first.revision).toBe(revision);
        const second = await store.list(net, { after: first.nextAfter, scanLimit: 3 });
        expect(second.peers.map((peer) => peer.record.peerId)).toEqual(ids.slice(3, 6));
        const last = await store.list(net, { after: second.nextAfter, scanLimit: 3 });
        expect(last.peers.map((peer) => peer.record.peerId)).toEqual(ids.slice(6));
        expect(last.nextAfter).toBeUndefined();
        const exact = await store.list(net, { after: ids[3], scanLimit: 3 });
        expect(exact.peers.map((peer) => peer.record.peerId)).toEqual(ids.slice(4, 7));
        expect(exact.nextAfter).toBeUndefined();
        expect((await store.list(net, { after: ids[6], scanLimit: 3 })).peers).toEqual([]);
        const full = await listAll(store, net, 2);
        expect(full).toEqual(await Promise.all(ids.map((id) => store.resolveById(net, id))));
      });

      it('answers an empty page at revision 0 for a network never written', async () => {
        expect(await store.list('nothing', { scanLimit: 10 })).toEqual({ peers: [], revision: 0 });
      });

      it('counts live peers per network', async () => {
        for (let i = 0; i < 3; i += 1) await store.register(new TestPeer(net).registration());
        await store.register(new TestPeer('other').registration());
        const counts = await store.countPeers();
        expect(counts.get(net)).toBe(3);
        expect(counts.get('other')).toBe(1);
      });
    });

    describe('watch', () => {
      it('delivers only later events when asked from now', async () => {
        const a = new TestPeer(net);
        await store.register(a.registration());
        const recorder = await watch(undefined);
        const b = new TestPeer(net);
        const { revision } = await store.register(b.registration());
        const [event] = await recorder.waitForEvents(1);
        expect(event).toMatchObject({ type: 'put', peerId: b.peerId, revision });
        expect(recorder.events).toHaveLength(1);
      });

      it('delivers the whole history from revision 0, then live events, each once and in order', async () => {
        const peers = Array.from({ length: 5 }, () => new TestPeer(net));
        for (const peer of peers) await store.register(peer.registration());
        await store.deregister(...tombstoneArgs(peers[0]));
        const recorder = await watch(0);
        // The backlog is delivered before watch() resolves.
        expect(recorder.events).toHaveLength(6);
        await store.register(peers[1].registration());
        const events = await recorder.waitForEvents(7);
        expectConsecutive(events.map((event) => event.revision));
        expect(events[6].revision).toBe(await store.revision(net));
        expect([...replay(events).keys()].sort()).toEqual(
          peers
            .slice(1)
            .map((peer) => peer.peerId)
            .sort(),
        );
      });

      it('resumes after a given revision', async () => {
        const peers = Array.from({ length: 4 }, () => new TestPeer(net));
        const revisions: number[] = [];
        for (const peer of peers) revisions.push((await store.register(peer.registration())).revision);
        const recorder = await watch(revisions[1]);
        expect(recorder.events.map((event) => event.revision)).toEqual(revisions.slice(2));
        expect(recorder.events.map((event) => event.peerId)).toEqual([peers[2].peerId, peers[3].peerId]);
      });

      it('keeps the list-then-watch contract: nothing lost, nothing repeated', async () => {
        const peers = Array.from({ length: 6 }, () => new TestPeer(net));
        for (const peer of peers.slice(0, 4)) await store.register(peer.registration());
        const page = await store.list(net, { scanLimit: 100 });
        const start = new Map(page.peers.map((peer) => [peer.record.peerId, Buffer.from(peer.signed.record)]));
        const recorder = await watch(page.revision);
        await store.register(peers[4].registration());
        await store.deregister(...tombstoneArgs(peers[0]));
        await store.register(peers[1].registration());
        await store.register(peers[5].registration(1_000));
        clock.advance(1_000);
        await store.sweepExpired();
        const events = await recorder.waitForEvents(5);
        expect(events[0].revision).toBe(page.revision + 1);
        expectConsecutive(events.map((event) => event.revision));
        const live = new Map(
          (await listAll(store, net)).map((peer) => [peer.record.peerId, Buffer.from(peer.signed.record)]),
        );
        expect(replay(events, start)).toEqual(live);
      });

      it('loses and repeats nothing when writes race a watcher catching up', async () => {
        const peers = Array.from({ length: 8 }, () => new TestPeer(net));
        // A backlog longer than one read, so catching up takes several round trips.
        for (let i = 0; i < 600; i += 1) await store.register(peers[i % 8].registration());
        const racing = (async () => {
          for (let i = 0; i < 40; i += 1) await store.register(peers[i % 8].registration());
        })();
        const recorder = await watch(0);
        await racing;
        const events = await recorder.waitForEvents(640);
        expect(events).toHaveLength(640);
        expectConsecutive(events.map((event) => event.revision));
        expect(events[639].revision).toBe(await store.revision(net));
      });

      it('fans every event out to every watcher', async () => {
        const recorders = await Promise.all([watch(undefined), watch(0), watch(undefined)]);
        const peer = new TestPeer(net);
        await store.register(peer.registration());
        await store.register(peer.registration());
        for (const recorder of recorders) {
          const events = await recorder.waitForEvents(2);
          expect(events.map((event) => event.peerId)).toEqual([peer.peerId, peer.peerId]);
          expectConsecutive(events.map((event) => event.revision));
        }
      });

      it('answers OutOfRange for a revision newer than the store has reached', async () => {
        const { revision } = await store.register(new TestPeer(net).registration());
        const recorder = await watch(revision + 1);
        expect((await recorder.waitForError()).name).toBe('OutOfRangeError');
        const empty = await watch(5, 'never-written');
        expect((await empty.waitForError()).name).toBe('OutOfRangeError');
      });

      it('answers OutOfRange for a compacted revision, and serves retained ones', async () => {
        await open({ logRetention: 10 });
        const peer = new TestPeer(net);
        const first = await store.register(peer.registration());
        for (let i = 0; i < 299; i += 1) await store.register(peer.registration());
        const current = await store.revision(net);
        expect(current).toBe(first.revision + 299);
        const compacted = await watch(first.revision);
        expect((await compacted.waitForError()).name).toBe('OutOfRangeError');
        const fromZero = await watch(0);
        expect((await fromZero.waitForError()).name).toBe('OutOfRangeError');
        const recent = await watch(current - 9);
        expect(recent.events.map((event) => event.revision)).toEqual(
          Array.from({ length: 9 }, (_, i) => current - 8 + i),
        );
        expect(recent.error).toBeUndefined();
      });

      it('stops delivering once closed, and closing twice is harmless', async () => {
        const closedEarly = await watch(undefined);
        const open = await watch(undefined);
        closedEarly.close();
        closedEarly.close();
        const peer = new TestPeer(net);
        await store.register(peer.registration());
        await store.register(peer.registration());
        await open.waitForEvents(2);
        expect(closedEarly.events).toEqual([]);
        expect(closedEarly.error).toBeUndefined();
      });

      it('ends a watch whose handler throws, with that error', async () => {
        const failing = new EventRecorder();
        const thrown = new Error('handler broke');
        failing.subscription = await store.watch(net, undefined, {
          onEvent: () => {
            throw thrown;
          },
          onError: failing.handlers.onError,
        });
        recorders.push(failing);
        const healthy = await watch(undefined);
        const peer = new TestPeer(net);
        await store.register(peer.registration());
        expect(await failing.waitForError()).toBe(thrown);
        await store.register(peer.registration());
        await healthy.waitForEvents(2);
      });
    });

    describe('lifecycle', () => {
      it('answers ping while open', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });

      it('ends watches with Unavailable on close and refuses calls after it', async () => {
        const recorder = await watch(undefined);
        await harness?.close();
        harness = undefined;
        expect((await recorder.waitForError()).name).toBe('UnavailableError');
        await expectRejectsNamed(store.ping(), 'UnavailableError');
        await expectRejectsNamed(store.register(new TestPeer(net).registration()), 'UnavailableError');
        const update = new TestPeer(net).record();
        await expectRejectsNamed(store.updateRecord(update.record, update.signed), 'UnavailableError');
        await expectRejectsNamed(store.evict(net, update.record.peerId, 1), 'UnavailableError');
        const late = await EventRecorder.start(store, net, undefined);
        expect((await late.waitForError()).name).toBe('UnavailableError');
        await store.close();
      });
    });
  });
}

function tombstoneArgs(peer: TestPeer): [PeerRecord, SignedRecord] {
  const { record, signed } = peer.tombstone();
  return [record, signed];
}
