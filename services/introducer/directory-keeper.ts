/**
 * Keeps the directory true for the members in this introducer's share. The share is decided by
 * rendezvous hashing over the live introducers, so replicas split the work without talking; each
 * member of the share is pinged every probe interval (through other members when the direct ping
 * fails), and what the probes find becomes directory writes:
 *
 *   - a member that answers keeps its lease (renewed, or registered again after the store lost it);
 *   - a member that stops answering for the suspicion time is evicted, conditional on the seq it
 *     was found dead at, so a member that has since re-registered is never removed;
 *   - a newer record the gossip brings replaces the directory's (UpdateRecord, also conditional).
 *
 * Rumours of a death (gossip) bring a probe forward but never evict by themselves. The members
 * known here are the directory's (the mirror) plus orphans: peers admitted by Join before their
 * registration shows, or dropped from a relisted directory (a flushed Redis) without a DELETE,
 * so that live ones are registered again.
 */
import { ServiceError, status } from '@grpc/grpc-js';
import type { DirectoryClient } from '../client/directory-client';
import type { RegistrationBatcher } from '../client/registration-batcher';
import type { RenewalBatcher } from '../client/renewal-batcher';
import type { Logger } from '../common/logging';
import type { SignedRecord } from '../common/records';
import { IndirectPingOutcome, type IndirectPingResponse, type PingResponse } from '../gen/grapevine/v1/host';
import type { MemberAccess } from '../host/server';
import type { Rng } from '../membership';
import { INTRODUCER_ROLE, ROLE_LABEL, type DirectoryMirror, type MirrorEntry } from './directory-mirror';
import { MemberProbes } from './member-probes';
import type { IntroducerMetrics } from './metrics';
import { rendezvousOwner } from './rendezvous';

/** Probes in flight at once; each may fan out to the relays of an indirect probe. */
const MAX_PROBES_IN_FLIGHT = 512;
/** Member probe seqs start here, far above the core's own probe seqs for the same peers. */
const SEQ_BASE = 2 ** 31;

export interface KeeperOptions {
  readonly network: string;
  readonly directory: DirectoryClient;
  /** Registrations go through the introducer's batcher, beside its joins'. */
  readonly registrations: Pick<RegistrationBatcher, 'register'>;
  /** Renewals too: a stream of them leaves in about ten calls a second (see RenewalBatcher). */
  readonly renewals: Pick<RenewalBatcher, 'renew'>;
  readonly mirror: DirectoryMirror;
  readonly member: MemberAccess;
  readonly probeIntervalMs: number;
  readonly probeTimeoutMs: number;
  readonly suspicionMs: number;
  readonly indirectProbes: number;
  /** TTL asked for the leases this introducer keeps. */
  readonly leaseTtlSeconds: number;
  readonly rng: Rng;
  readonly clock: () => number;
  readonly metrics: IntroducerMetrics;
  readonly log: Logger;
}

interface Lease {
  readonly leaseId: string;
  renewAt: number;
}

export class DirectoryKeeper {
  private readonly probes: MemberProbes;
  /** Members admitted or seen alive that the directory does not list (yet, or any more). */
  private readonly orphans = new Map<string, MirrorEntry>();
  private readonly leases = new Map<string, Lease>();
  /**
   * The newest seq this introducer wrote for a member that the mirror does not show yet: gossip
   * brings a newcomer's record as soon as Join introduces it, before the watch has the Register,
   * and writing it through again would only be refused as stale.
   */
  private readonly written = new Map<string, number>();
  /** Seqs that Joins under way will register themselves, by peer. */
  private readonly joining = new Map<string, number>();
  private introducers: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private seq = 0;
  private stopped = false;

  constructor(private readonly o: KeeperOptions) {
    this.probes = new MemberProbes({ intervalMs: o.probeIntervalMs, suspicionMs: o.suspicionMs });
  }

  /** The members this replica probes. */
  get shareSize(): number {
    return this.probes.size;
  }

  start(): void {
    this.reshare();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  // ---- what the mirror, Join and gossip report ----------------------------------------------------

  /** A registration or a newer record in the directory. */
  onPut(entry: MirrorEntry): void {
    this.orphans.delete(entry.peerId);
    if ((this.written.get(entry.peerId) ?? Infinity) <= entry.record.seq) this.written.delete(entry.peerId);
    if (this.isIntroducer(entry)) this.reshare();
    else this.place(entry.peerId);
  }

  /** The directory removed a peer (deregistered, expired, evicted): stop keeping it. */
  onDeleted(entry: MirrorEntry): void {
    this.forget(entry.peerId);
    if (this.introducers.includes(entry.peerId)) this.reshare();
  }

  /** Gone from a fresh list without a DELETE (the store lost its data): keep probing it. */
  onVanished(entry: MirrorEntry): void {
    this.orphans.set(entry.peerId, entry);
    this.leases.delete(entry.peerId);
    if (this.introducers.includes(entry.peerId)) this.reshare();
    else this.place(entry.peerId);
  }

  /** Join admitted a newcomer, and registered it under `leaseId` when the directory answered. */
  onAdmitted(entry: MirrorEntry, leaseId: string | undefined): void {
    if (!this.o.mirror.get(entry.peerId)) this.orphans.set(entry.peerId, entry);
    if (leaseId) {
      this.leases.set(entry.peerId, { leaseId, renewAt: this.renewAt() });
      this.wrote(entry.peerId, entry.record.seq);
    }
    this.place(entry.peerId);
  }

  /**
   * A Join of this record is under way and will register it. A rejoining peer gossips its newer
   * record too, and the introducer hears it while the Join dials back: written through then, it
   * was a second write the Join's Register made moot, or refused as stale once the Register won.
   * Call the returned function when the Join ends, whichever way.
   */
  joinStarted(peerId: string, seq: number): () => void {
    if ((this.joining.get(peerId) ?? 0) < seq) this.joining.set(peerId, seq);
    return () => {
      if (this.joining.get(peerId) === seq) this.joining.delete(peerId);
    };
  }

  /** Gossip says a member died: probe it now (only a failed probe of our own evicts). */
  onRumouredDead(peerId: string): void {
    this.probes.expedite(peerId, this.o.clock());
  }

  /** Gossip brought a record newer than the directory's: write it through. */
  async onNewerRecord(peerId: string, signed: SignedRecord, seq: number): Promise<void> {
    const held = this.o.mirror.get(peerId);
    if (!held || this.ownerOf(peerId) !== this.selfId) return;
    const covered = Math.max(held.record.seq, this.written.get(peerId) ?? 0, this.joining.get(peerId) ?? 0);
    if (covered >= seq) return;
    try {
      this.wrote(peerId, seq);
      await this.o.directory.updateRecord(signed);
      this.write('update');
    } catch (error) {
      this.write('update', error);
      if (this.written.get(peerId) === seq) this.written.delete(peerId);
    }
  }

  // ---- share --------------------------------------------------------------------------------------

  private get selfId(): string {
    return this.o.member.self.peerId;
  }

  private isIntroducer(entry: MirrorEntry): boolean {
    return entry.record.labels[ROLE_LABEL] === INTRODUCER_ROLE;
  }

  private ownerOf(peerId: string): string | undefined {
    return rendezvousOwner(peerId, this.introducers);
  }

  /** Recomputes the whole share: the set of live introducers changed. */
  private reshare(): void {
    const live = new Set(this.o.mirror.introducers());
    live.add(this.selfId);
    this.introducers = [...live].sort();
    for (const entry of this.o.mirror.values()) this.place(entry.peerId);
    for (const peerId of this.orphans.keys()) this.place(peerId);
    for (const peerId of [...this.probes.ids()]) this.place(peerId);
    this.o.metrics.replicas.set(this.introducers.length);
    this.gauges();
  }

  /** Probes the member when it falls to this replica, stops when it falls to another. */
  private place(peerId: string): void {
    const known = this.o.mirror.get(peerId) ?? this.orphans.get(peerId);
    if (known && peerId !== this.selfId && this.ownerOf(peerId) === this.selfId) {
      if (!this.probes.has(peerId)) {
        this.probes.add(peerId, this.o.clock(), this.o.rng.next());
        this.schedule();
      }
    } else {
      this.probes.remove(peerId);
    }
    this.gauges();
  }

  private wrote(peerId: string, seq: number): void {
    if ((this.written.get(peerId) ?? 0) < seq) this.written.set(peerId, seq);
  }

  private forget(peerId: string): void {
    this.orphans.delete(peerId);
    this.leases.delete(peerId);
    this.written.delete(peerId);
    this.probes.remove(peerId);
    this.gauges();
  }

  private gauges(): void {
    const { metrics, mirror } = this.o;
    metrics.shareMembers.set(this.probes.size);
    const known = mirror.size + this.orphans.size;
    metrics.shareRatio.set(known === 0 ? 0 : this.probes.size / known);
    metrics.suspects.set(this.probes.suspects);
    metrics.directoryMembers.set(mirror.size);
  }

  // ---- probing ------------------------------------------------------------------------------------

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const at = this.probes.nextDueAt();
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.ceil(at - this.o.clock())));
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    for (const peerId of this.probes.takeDue(this.o.clock())) {
      if (this.inFlight >= MAX_PROBES_IN_FLIGHT) {
        this.probes.release(peerId);
        continue;
      }
      this.inFlight++;
      void this.probe(peerId).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
    this.schedule();
  }

  private async probe(peerId: string): Promise<void> {
    const entry = this.o.mirror.get(peerId) ?? this.orphans.get(peerId);
    const address = entry?.record.addresses[0];
    if (!entry || !address) {
      this.forget(peerId);
      return;
    }
    let outcome: 'ack' | 'indirect_ack' | 'failed' = 'failed';
    if (await this.ping(peerId, address)) outcome = 'ack';
    else if (await this.pingIndirectly(peerId, address)) outcome = 'indirect_ack';
    this.o.metrics.memberProbes.inc({ outcome });
    const verdict = this.probes.settle(peerId, outcome !== 'failed', this.o.clock());
    this.gauges();
    switch (verdict) {
      case 'alive':
      case 'recovered':
        await this.keepLease(entry);
        break;
      case 'suspected':
        this.o.log.debug({ peer: peerId, address }, 'member did not answer its probes: suspected');
        break;
      case 'dead':
        await this.evict(entry);
        break;
      default:
        break;
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) % SEQ_BASE;
    return SEQ_BASE + this.seq;
  }

  /** A direct ping; true when the very member acked. */
  private async ping(peerId: string, address: string): Promise<boolean> {
    const { member } = this.o;
    try {
      const response = (await member.call(
        address,
        'ping',
        { sender: member.self, seq: this.nextSeq(), neighbor: false, updates: [] },
        this.o.probeTimeoutMs,
      )) as PingResponse;
      if (response.sender?.peerId !== peerId) return false;
      if (response.updates.length > 0) this.takeUpdates(response);
      return true;
    } catch {
      return false;
    }
  }

  /** Asks a few other members to ping it; true when any of them got an ack. */
  private async pingIndirectly(peerId: string, address: string): Promise<boolean> {
    const { member, mirror } = this.o;
    if (this.o.indirectProbes === 0) return false;
    // A few random members, not a scan of the directory: a failed probe costs the same at any size.
    const relays = new Map<string, MirrorEntry>();
    for (const e of mirror.draw(() => this.o.rng.next(), 4 * this.o.indirectProbes)) {
      if (relays.size === this.o.indirectProbes) break;
      if (e.peerId !== peerId && e.peerId !== this.selfId && e.record.addresses[0]) relays.set(e.peerId, e);
    }
    if (relays.size === 0) return false;
    const target = { peerId, address };
    const answers = await Promise.all(
      [...relays.values()].map(async (relay) => {
        try {
          const response = (await member.call(
            relay.record.addresses[0],
            'indirectPing',
            { sender: member.self, seq: this.nextSeq(), target, updates: [] },
            this.o.probeTimeoutMs,
          )) as IndirectPingResponse;
          return response.outcome === IndirectPingOutcome.INDIRECT_PING_OUTCOME_ACK;
        } catch {
          return false;
        }
      }),
    );
    return answers.some(Boolean);
  }

  private takeUpdates(response: PingResponse): void {
    try {
      this.o.member.deliverUpdates(response.sender!, response.updates);
    } catch (error) {
      this.o.log.debug({ err: (error as Error).message }, 'a member piggybacked an update that does not verify');
    }
  }

  // ---- directory writes ---------------------------------------------------------------------------

  private renewAt(): number {
    return this.o.clock() + (this.o.leaseTtlSeconds * 1_000) / 3;
  }

  /** A live member keeps its lease: renewed every third of the TTL, registered when lost. */
  private async keepLease(entry: MirrorEntry): Promise<void> {
    const lease = this.leases.get(entry.peerId);
    if (lease && lease.renewAt > this.o.clock()) return;
    if (lease) {
      try {
        await this.o.renewals.renew(lease.leaseId);
        lease.renewAt = this.renewAt();
        this.write('renew');
        return;
      } catch (error) {
        this.write('renew', error);
        if ((error as ServiceError).code !== status.NOT_FOUND) return;
        this.leases.delete(entry.peerId);
      }
    }
    // Registering the very record the directory holds returns its lease: safe to do again.
    const record = this.o.mirror.get(entry.peerId) ?? entry;
    try {
      const { leaseId } = await this.o.registrations.register(record.signed, this.o.leaseTtlSeconds);
      this.leases.set(entry.peerId, { leaseId, renewAt: this.renewAt() });
      this.wrote(entry.peerId, record.record.seq);
      this.write('register');
    } catch (error) {
      this.write('register', error);
      const code = (error as ServiceError).code;
      if (this.orphans.has(entry.peerId) && (code === status.FAILED_PRECONDITION || code === status.ALREADY_EXISTS)) {
        // The directory has moved past this record (a seq floor, its name taken): only the peer
        // can register anew, with a newer record. Stop keeping the stale one.
        this.o.log.info(
          { peer: entry.peerId, reason: (error as ServiceError).details },
          'cannot register this member again with the record known here; it must register itself',
        );
        this.forget(entry.peerId);
      }
    }
  }

  private async evict(entry: MirrorEntry): Promise<void> {
    const held = this.o.mirror.get(entry.peerId);
    if (!held) {
      this.forget(entry.peerId);
      return;
    }
    try {
      await this.o.directory.evict(this.o.network, held.peerId, held.record.seq);
      this.write('evict');
      this.o.metrics.deathsReported.inc();
      this.o.log.info({ peer: held.peerId, address: held.record.addresses[0] }, 'member found dead: evicted');
      this.forget(held.peerId);
    } catch (error) {
      this.write('evict', error);
      const code = (error as ServiceError).code;
      if (code === status.NOT_FOUND) this.forget(held.peerId);
      else if (code !== status.FAILED_PRECONDITION) {
        this.o.log.warn({ peer: held.peerId, err: (error as Error).message }, 'could not evict a dead member');
      }
    }
  }

  private write(op: 'register' | 'renew' | 'update' | 'evict', error?: unknown): void {
    const outcome = error === undefined ? 'ok' : (status[(error as ServiceError).code] ?? 'unknown').toLowerCase();
    this.o.metrics.directoryWrites.inc({ op, outcome });
  }
}
