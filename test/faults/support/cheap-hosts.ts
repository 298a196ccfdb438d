/**
 * Simulated hosts that are only what the directory sees of a host: a signed record, a lease that
 * is renewed every third of its TTL and registered again when the directory says it is lost
 * (NOT_FOUND: expired, or the store was flushed), and a deregistration when asked. No membership
 * core, no server: a few hundred bytes and one timer each, so thousands fit in one process.
 *
 * Calls go to the host's home replica and, when that one cannot answer, once to the next (see
 * failover.ts). A call that fails on both is tried again after RETRY_MS, never later than the next
 * renewal is due, as the real host's lease keeper does.
 */
import { ChannelCredentials, Metadata, ServiceError, status } from '@grpc/grpc-js';
import { generateIdentity, type Identity } from '../../../services/common/identity';
import { signRecord, type SignedRecord } from '../../../services/common/records';
import { DirectoryServiceClient } from '../../../services/gen/grapevine/v1/directory';
import { FailoverTally, newTally, REPLICA_CHANNEL_OPTIONS, withFailover } from './failover';

/** Wait before a call that failed on every replica is tried again, in ms. */
const RETRY_MS = 500;
const CALL_DEADLINE_MS = 3_000;

export interface CheapFleetOptions {
  /** gRPC addresses of the directory replicas. */
  readonly replicas: readonly string[];
  readonly count: number;
  readonly network: string;
  readonly ttlSeconds: number;
  /** Connections per replica the fleet's calls are spread over. */
  readonly connectionsPerReplica?: number;
  /** Used in the addresses the records advertise, so fleets of several processes differ. */
  readonly fleetIndex?: number;
}

export interface FleetStats {
  /** When start() was called, ms since the epoch: second 0 of renewalsBySecond. */
  readonly startedAt: number;
  readonly registrations: number;
  readonly renewals: number;
  /** Renewals answered NOT_FOUND: leases the directory lost, each registered again. */
  readonly leasesLost: number;
  readonly deregistrations: number;
  /** Successful renewals per whole second since start(), index = second. */
  readonly renewalsBySecond: readonly number[];
  /** For each lost lease, ms from the NOT_FOUND's answer back to a lease: how long it took to hold one again. */
  readonly restoreMs: readonly number[];
  readonly tally: FailoverTally;
}

type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

function unary<Req, Res>(client: DirectoryServiceClient, method: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    method.call(client, request, new Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

class CheapHost {
  seq = Date.now();
  record: SignedRecord;
  leaseId: string | undefined;
  /** False between a deregistration and the next registration. */
  live = false;
  lostAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Operations on one host run one at a time, in order. */
  chain: Promise<void> = Promise.resolve();

  constructor(
    readonly identity: Identity,
    readonly index: number,
    readonly home: number,
    private readonly fleet: CheapFleet,
  ) {
    this.record = this.sign(false);
  }

  get peerId(): string {
    return this.identity.peerId;
  }

  sign(withdrawn: boolean): SignedRecord {
    const o = this.fleet.options;
    const i = this.index;
    return signRecord(this.identity, {
      network: o.network,
      name: '',
      addresses: [`10.${o.fleetIndex ?? 0}.${(i >> 8) & 255}.${i & 255}:7600`],
      labels: { fleet: String(o.fleetIndex ?? 0) },
      seq: this.seq,
      issuedAtMs: Date.now(),
      withdrawn,
    });
  }

  enqueue(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step, step);
    return this.chain;
  }
}

export class CheapFleet {
  readonly hosts: CheapHost[];
  private readonly clients: DirectoryServiceClient[][];
  private stopped = false;
  private startedAt = 0;
  private readonly counters = { registrations: 0, renewals: 0, leasesLost: 0, deregistrations: 0 };
  private readonly renewalsBySecond: number[] = [];
  private readonly restoreMs: number[] = [];
  readonly tally = newTally();

  constructor(readonly options: CheapFleetOptions) {
    const perReplica = options.connectionsPerReplica ?? 1;
    this.clients = options.replicas.map((address) =>
      Array.from(
        { length: perReplica },
        (_, i) =>
          new DirectoryServiceClient(address, ChannelCredentials.createInsecure(), {
            ...REPLICA_CHANNEL_OPTIONS,
            'grpc.primary_user_agent': `cheap-fleet-${options.fleetIndex ?? 0}-${i}`,
          }),
      ),
    );
    this.hosts = Array.from(
      { length: options.count },
      (_, i) => new CheapHost(generateIdentity(), i, i % options.replicas.length, this),
    );
  }

  private get renewEveryMs(): number {
    return (this.options.ttlSeconds * 1_000) / 3;
  }

  /** The replicas' clients as seen by one host: its home replica first, each on one of its connections. */
  private replicasFor(host: CheapHost): DirectoryServiceClient[] {
    const n = this.clients.length;
    return Array.from({ length: n }, (_, r) => {
      const connections = this.clients[(host.home + r) % n]!;
      return connections[host.index % connections.length]!;
    });
  }

  /** Registers every host (`concurrency` at a time), then keeps every lease. */
  async start(concurrency = 64): Promise<void> {
    this.startedAt = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < this.hosts.length) {
        const host = this.hosts[next++]!;
        await host.enqueue(() => this.register(host));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** Stops renewing (leases then end on their own) and closes the connections. */
  stop(): void {
    this.stopped = true;
    for (const host of this.hosts) if (host.timer) clearTimeout(host.timer);
    this.clients.flat().forEach((client) => client.close());
  }

  /** Ids of the hosts that hold, or are trying to hold, a lease: every one the directory must list. */
  liveIds(): string[] {
    return this.hosts.filter((host) => host.live).map((host) => host.peerId);
  }

  stats(): FleetStats {
    return {
      startedAt: this.startedAt,
      ...this.counters,
      renewalsBySecond: [...this.renewalsBySecond],
      restoreMs: [...this.restoreMs],
      tally: this.tally,
    };
  }

  /** A host leaves (deregisters with a tombstone); `rejoin()` brings it back with a newer record. */
  leave(host: CheapHost): Promise<void> {
    return host.enqueue(async () => {
      if (!host.live) return;
      host.live = false;
      if (host.timer) clearTimeout(host.timer);
      host.seq++;
      const tombstone = host.sign(true);
      await withFailover(
        this.replicasFor(host),
        0,
        (client) => unary(client, client.deregister, { record: tombstone }),
        this.tally,
        // Already gone (its lease was lost): nothing to remove.
        new Set([status.NOT_FOUND]),
      );
      host.leaseId = undefined;
      this.counters.deregistrations++;
    });
  }

  rejoin(host: CheapHost): Promise<void> {
    return host.enqueue(async () => {
      if (host.live) return;
      host.seq++;
      host.record = host.sign(false);
      await this.register(host);
    });
  }

  /** Registers the host's record; on failure everywhere, tries again shortly. */
  private async register(host: CheapHost): Promise<void> {
    if (this.stopped) return;
    host.live = true;
    const replicas = this.replicasFor(host);
    let stale = false;
    const attempt = () =>
      withFailover(
        replicas,
        0,
        async (client) => {
          try {
            return await unary(client, client.register, { record: host.record, ttlSeconds: this.options.ttlSeconds });
          } catch (error) {
            stale = (error as ServiceError).code === status.FAILED_PRECONDITION;
            throw error;
          }
        },
        this.tally,
        new Set([status.FAILED_PRECONDITION]),
      );
    let response = await attempt();
    if (response === undefined && stale && !this.stopped) {
      // The lease ended by expiry or eviction and left a seq floor: a newer record goes in.
      host.seq = Math.max(host.seq + 1, Date.now());
      host.record = host.sign(false);
      response = await attempt();
    }
    if (response === undefined) {
      this.schedule(host, RETRY_MS, () => this.register(host));
      return;
    }
    host.leaseId = response.leaseId;
    this.counters.registrations++;
    if (host.lostAt !== undefined) {
      this.restoreMs.push(Date.now() - host.lostAt);
      host.lostAt = undefined;
    }
    this.schedule(host, this.renewEveryMs * (0.9 + 0.2 * Math.random()), () => this.renew(host));
  }

  private async renew(host: CheapHost): Promise<void> {
    if (this.stopped || !host.live || host.leaseId === undefined) return;
    const leaseId = host.leaseId;
    let lost = false;
    const replicas = this.replicasFor(host);
    const ttl = await withFailover(
      replicas,
      0,
      async (client) => {
        try {
          return await unary(client, client.renew, { leaseId });
        } catch (error) {
          if ((error as ServiceError).code === status.NOT_FOUND) lost = true;
          throw error;
        }
      },
      this.tally,
      new Set([status.NOT_FOUND]),
    );
    if (lost) {
      this.counters.leasesLost++;
      host.lostAt = Date.now();
      host.leaseId = undefined;
      await this.register(host);
      return;
    }
    if (ttl === undefined) {
      this.schedule(host, RETRY_MS, () => this.renew(host));
      return;
    }
    this.counters.renewals++;
    const second = Math.floor((Date.now() - this.startedAt) / 1_000);
    this.renewalsBySecond[second] = (this.renewalsBySecond[second] ?? 0) + 1;
    this.schedule(host, this.renewEveryMs, () => this.renew(host));
  }

  private schedule(host: CheapHost, delayMs: number, step: () => Promise<void>): void {
    if (this.stopped) return;
    if (host.timer) clearTimeout(host.timer);
    host.timer = setTimeout(() => {
      host.timer = undefined;
      void host.enqueue(step);
    }, delayMs);
  }
}

export type { CheapHost };
