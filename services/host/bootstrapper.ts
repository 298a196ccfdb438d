/**
 * Bootstrap, in DESIGN.md's order: the saved peer cache, static seeds, DNS seeds, the directory.
 * Each source yields candidate peers; those that answer a records-only handshake are handed to
 * the core's join, and the first source that gets this host a neighbour is enough. A seed (static
 * or DNS) may be an introducer: it is asked to Join first, and the live peers it names join the
 * candidates. When every
 * source fails the host says so (log, metric, health) and tries again after a backoff with jitter.
 * A host that has neighbours sleeps here until the core reports it isolated.
 */
import type { Logger } from '../common/logging';
import type { PeerRecord } from '../common/records';
import type { SignedRecord } from '../gen/grapevine/v1/record';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './bootstrap/backoff';
import { resolveDnsSeeds } from './bootstrap/dns-seeds';
import type { CachedPeer } from './bootstrap/peer-cache';
import type { SeedAddress } from './bootstrap/static-seeds';
import type { BootstrapSource, HostMetrics } from './metrics';

/** Candidates contacted at once from one source. */
const CONTACT_PARALLELISM = 8;
/** How often a connected host checks that it still is (the core's isolated event wakes it sooner). */
const CONNECTED_CHECK_MS = 1_000;
/** DNS query timeout for seeds. */
const DNS_TIMEOUT_MS = 2_000;

export interface BootstrapOptions {
  readonly cache?: () => Promise<readonly CachedPeer[]>;
  readonly seeds: readonly SeedAddress[];
  readonly dnsSeeds: readonly string[];
  readonly dnsResolver?: string;
  readonly defaultPort: number;
  /** Records of the network's live peers, from the directory. */
  readonly directory?: () => Promise<readonly SignedRecord[]>;
  /**
   * Contacts a candidate: a records-only handshake, or for a seed first a Join in case it is an
   * introducer. The candidate's verified record, and the live peers an introducer named.
   */
  readonly contact: (address: string, seed: boolean, serverName?: string) => Promise<Contacted>;
  /** Verifies a record from the cache or the directory; throws when it does not verify. */
  readonly open: (signed: SignedRecord) => PeerRecord;
  readonly selfId: string;
  readonly join: (records: readonly SignedRecord[]) => void;
  readonly connected: () => boolean;
  /** How long a join may take to bring a first neighbour. */
  readonly joinWaitMs: number;
  readonly onIsolated: (isolated: boolean) => void;
  readonly metrics: HostMetrics;
  readonly log: Logger;
  readonly backoff?: BackoffPolicy;
  readonly random?: () => number;
}

export interface Contacted {
  readonly signed: SignedRecord;
  readonly record: PeerRecord;
  /** Other live peers, when the candidate was an introducer that admitted this host. */
  readonly sample?: readonly SignedRecord[];
}

export class Bootstrapper {
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private isolated = false;
  /** How many rounds in a row reached nobody. */
  private failedRounds = 0;
  /** Candidates the last source named (before contacting them). */
  private candidatesSeen = 0;

  constructor(private readonly o: BootstrapOptions) {}

  /** Whether any source is configured; a host without one is the network's first peer. */
  get hasSources(): boolean {
    const o = this.o;
    return o.cache !== undefined || o.seeds.length > 0 || o.dnsSeeds.length > 0 || o.directory !== undefined;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Tries again now (the core reported that this host has lost every neighbour). */
  kick(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.o.connected() || !this.hasSources) {
        this.setIsolated(false);
        this.failedRounds = 0;
        await this.sleep(CONNECTED_CHECK_MS);
        continue;
      }
      const outcome = await this.round();
      if (outcome === 'joined') continue;
      const delay = backoffDelay(this.o.backoff ?? DEFAULT_BACKOFF, this.failedRounds++, this.o.random ?? Math.random);
      if (outcome === 'nobody-known') {
        // Every source answered and none knows another peer: this is the network's first host.
        this.setIsolated(false);
        this.o.log.info({ retryInMs: Math.round(delay) }, 'no other peer is known yet; asking again later');
      } else {
        this.setIsolated(true);
        this.o.log.warn(
          { rounds: this.failedRounds, retryInMs: Math.round(delay) },
          'no bootstrap source reached a live peer: this host knows nobody yet; retrying',
        );
      }
      await this.sleep(delay);
    }
  }

  /**
   * One pass over the sources in order: joined once this host has a neighbour; nobody-known when
   * every source worked and none named another peer; else unreachable.
   */
  private async round(): Promise<'joined' | 'nobody-known' | 'unreachable'> {
    let somebodyKnown = false;
    const sources: [BootstrapSource, (() => Promise<SignedRecord[]>) | undefined][] = [
      ['cache', this.o.cache && (() => this.fromRecords(this.o.cache!().then((c) => c.map((p) => p.record))))],
      ['static', this.o.seeds.length > 0 ? () => this.fromSeeds() : undefined],
      ['dns', this.o.dnsSeeds.length > 0 ? () => this.fromDns() : undefined],
      ['directory', this.o.directory && (() => this.fromRecords(this.o.directory!()))],
    ];
    for (const [source, candidates] of sources) {
      if (!candidates || this.stopped) continue;
      let records: SignedRecord[];
      try {
        records = await candidates();
      } catch (error) {
        somebodyKnown = true;
        this.o.metrics.bootstrapAttempts.inc({ source, outcome: 'error' });
        this.o.log.warn({ source, err: (error as Error).message }, 'bootstrap source failed');
        continue;
      }
      // Configured seeds say peers should exist; an empty cache or directory may just mean none do yet.
      if (this.candidatesSeen > 0 || source === 'static' || source === 'dns') somebodyKnown = true;
      if (records.length === 0) {
        this.o.metrics.bootstrapAttempts.inc({ source, outcome: this.candidatesSeen > 0 ? 'unreachable' : 'empty' });
        continue;
      }
      this.o.join(records);
      if (await this.waitConnected(this.o.joinWaitMs)) {
        this.o.metrics.bootstrapAttempts.inc({ source, outcome: 'ok' });
        this.o.log.info({ source, candidates: records.length }, 'joined the network');
        return 'joined';
      }
      this.o.metrics.bootstrapAttempts.inc({ source, outcome: 'no_neighbor' });
    }
    if (this.o.connected()) return 'joined';
    return somebodyKnown ? 'unreachable' : 'nobody-known';
  }

  /** Records from the cache or the directory: verified, then contacted for their newest. */
  private async fromRecords(list: Promise<readonly SignedRecord[]>): Promise<SignedRecord[]> {
    const addresses: string[] = [];
    for (const signed of await list) {
      try {
        const record = this.o.open(signed);
        if (record.peerId !== this.o.selfId && !record.withdrawn && record.addresses[0]) {
          addresses.push(record.addresses[0]);
        }
      } catch {
        // A record that does not verify is skipped, like any bad record a peer relays.
      }
    }
    return this.contactAll(
      addresses.map((address) => ({ address })),
      false,
    );
  }

  private fromSeeds(): Promise<SignedRecord[]> {
    return this.contactAll(this.o.seeds, true);
  }

  private async fromDns(): Promise<SignedRecord[]> {
    const { addresses, serverNames, problems } = await resolveDnsSeeds(this.o.dnsSeeds, {
      resolverAddress: this.o.dnsResolver,
      defaultPort: this.o.defaultPort,
      timeoutMs: DNS_TIMEOUT_MS,
    });
    for (const problem of problems) this.o.log.warn({ problem }, 'DNS seed did not resolve');
    return this.contactAll(
      addresses.map((address) => ({ address, serverName: serverNames[address] })),
      true,
    );
  }

  /**
   * Contacts candidates, a few at a time, until enough answer; their fresh records come back,
   * with the peers an introducer among them named.
   */
  private async contactAll(candidates: readonly SeedAddress[], seeds: boolean): Promise<SignedRecord[]> {
    this.candidatesSeen = candidates.length;
    const answered: SignedRecord[] = [];
    for (
      let i = 0;
      i < candidates.length && answered.length < CONTACT_PARALLELISM && !this.stopped;
      i += CONTACT_PARALLELISM
    ) {
      const batch = candidates.slice(i, i + CONTACT_PARALLELISM);
      const results = await Promise.allSettled(batch.map((c) => this.o.contact(c.address, seeds, c.serverName)));
      results.forEach((result, j) => {
        const expected = batch[j].peerId;
        if (result.status === 'rejected') {
          this.o.log.debug(
            { address: batch[j].address, err: (result.reason as Error).message },
            'candidate did not answer',
          );
          return;
        }
        const { signed, record } = result.value;
        if (record.peerId === this.o.selfId) return;
        if (expected && record.peerId !== expected) {
          this.o.log.warn(
            { address: batch[j].address, expected, answered: record.peerId },
            'seed answered with another identity; skipped',
          );
          return;
        }
        answered.push(signed);
        for (const peer of result.value.sample ?? []) answered.push(peer);
      });
    }
    return answered;
  }

  private async waitConnected(ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.stopped && !this.o.connected() && Date.now() < until)
      await this.sleep(Math.min(50, until - Date.now()));
    return this.o.connected();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private setIsolated(isolated: boolean): void {
    if (isolated === this.isolated) return;
    this.isolated = isolated;
    this.o.onIsolated(isolated);
  }
}
