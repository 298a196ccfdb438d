/**
 * The typed Directory client for other services: every call has a deadline, every record that
 * comes back is verified, and `watch` is an async iterator that resumes from its last revision
 * after a disconnect.
 */
import { ChannelCredentials, Interceptor, Metadata, ServiceError, status } from '@grpc/grpc-js';
import { bearerMetadata } from '../common/bearer-token';
import { OutOfRangeError } from '../common/errors';
import { grpcClientMetricsInterceptor } from '../common/grpc-metrics';
import { COMMON_GRPC_OPTIONS } from '../common/grpc-options';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import { defaultChannelCredentials } from '../common/tls';
import { Registry } from '../common/metrics';
import { PeerRecord, SignedRecord, openRecord } from '../common/records';
import { sleepUnlessAborted } from '../common/sleep';
import {
  DirectoryServiceClient,
  ListResponse,
  PeerEntry,
  RegisterRequest,
  RegisterResponse,
  RegisterResult,
  RenewRequest,
  RenewResult,
  WatchEvent_Type,
  WatchResponse,
} from '../gen/grapevine/v1/directory';

export interface DirectoryClientOptions {
  /** Per-call deadline in ms (not for Watch). */
  readonly deadlineMs?: number;
  /** Defaults to TLS checked against the system's roots (plaintext when GRAPEVINE_PLAINTEXT is true). */
  readonly credentials?: ChannelCredentials;
  /** When given, grpc_client_* metrics are recorded in it. */
  readonly registry?: Registry;
  /**
   * The introducer token, for introducers: sent with every call, it allows Evict and lifts the
   * directory's per-source limit on registrations (an introducer registers on many peers' behalf).
   */
  readonly introducerToken?: string;
  /**
   * Decodes and verifies each record the directory returns (throwing when one does not verify);
   * defaults to openRecord. A role that already verifies records behind a cache (an introducer,
   * which has just checked the records it registers) passes its own and skips verifying twice.
   */
  readonly openRecord?: (signed: SignedRecord) => PeerRecord;
}

export interface Peer {
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
  readonly revision: number;
  readonly ttlRemainingMs: number;
}

export interface PeerChange {
  readonly type: 'put' | 'delete';
  readonly revision: number;
  readonly peerId: string;
  readonly record: PeerRecord;
  readonly signed: SignedRecord;
  /** For deletes: "deregistered", "expired" or "evicted" (an introducer found the peer dead). */
  readonly reason: string;
}

export interface ListOptions {
  readonly labelSelector?: string;
  readonly pageSize?: number;
}

export interface WatchOptions {
  /** Deliver changes after this revision; undefined means from now. */
  readonly fromRevision?: number;
  /** Stops the watch; the iterator then ends. */
  readonly signal?: AbortSignal;
  /** Wait before reconnecting after a disconnect, in ms (doubling up to 5 s). */
  readonly retryDelayMs?: number;
}

const DEFAULT_DEADLINE_MS = 5_000;
const MAX_RETRY_DELAY_MS = 5_000;

/** Codes after which the same watch can simply be opened again from its last revision. */
const RESUMABLE = new Set([
  status.UNAVAILABLE,
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.INTERNAL,
  status.UNKNOWN,
]);

export class DirectoryClient {
  private readonly client: DirectoryServiceClient;
  private readonly deadlineMs: number;
  private readonly introducerToken: string | undefined;
  private readonly open: (signed: SignedRecord) => PeerRecord;

  constructor(address: string, options: DirectoryClientOptions = {}) {
    const interceptors: Interceptor[] = options.registry ? [grpcClientMetricsInterceptor(options.registry)] : [];
    this.client = new DirectoryServiceClient(address, options.credentials ?? defaultChannelCredentials(), {
      ...COMMON_GRPC_OPTIONS,
      interceptors,
      'grpc.max_receive_message_length': 4 * MAX_GRPC_MESSAGE_BYTES,
    });
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.introducerToken = options.introducerToken || undefined;
    this.open = options.openRecord ?? openRecord;
  }

  close(): void {
    this.client.close();
  }

  register(signed: SignedRecord, ttlSeconds = 0): Promise<RegisterResponse> {
    return this.unary((cb) =>
      this.client.register({ record: signed, ttlSeconds }, this.meta(), this.callOptions(), cb),
    );
  }

  /** Several Registers in one call, answered in order; see RegistrationBatcher for the usual way in. */
  registerBatch(entries: RegisterRequest[]): Promise<RegisterResult[]> {
    return this.batch<RegisterResult>('RegisterBatch', entries.length, (cb) =>
      this.client.registerBatch({ entries }, this.meta(), this.callOptions(), cb),
    );
  }

  /** Several Renews in one call, answered in order; see RenewalBatcher for the usual way in. */
  renewBatch(entries: RenewRequest[]): Promise<RenewResult[]> {
    return this.batch<RenewResult>('RenewBatch', entries.length, (cb) =>
      this.client.renewBatch({ entries }, this.meta(), this.callOptions(), cb),
    );
  }

  async renew(leaseId: string): Promise<number> {
    const response = await this.unary<{ ttlSeconds: number }>((cb) =>
      this.client.renew({ leaseId }, this.meta(), this.callOptions(), cb),
    );
    return response.ttlSeconds;
  }

  async deregister(withdrawn: SignedRecord): Promise<number> {
    const response = await this.unary<{ revision: number }>((cb) =>
      this.client.deregister({ record: withdrawn }, this.meta(), this.callOptions(), cb),
    );
    return response.revision;
  }

  /**
   * Replaces a live peer's record with a newer one the peer signed, keeping its lease; anyone may
   * relay it. Returns the revision of the change.
   */
  async updateRecord(signed: SignedRecord): Promise<number> {
    const response = await this.unary<{ revision: number }>((cb) =>
      this.client.updateRecord({ record: signed }, this.meta(), this.callOptions(), cb),
    );
    return response.revision;
  }

  /**
   * Removes a peer found dead, while the directory still holds the record with this seq. Needs
   * the directory's introducer token. Returns the revision of the delete.
   */
  async evict(network: string, peerId: string, seq: number, token = this.introducerToken): Promise<number> {
    const response = await this.unary<{ revision: number }>((cb) =>
      this.client.evict({ network, peerId, seq }, bearerMetadata(token), this.callOptions(), cb),
    );
    return response.revision;
  }

  async resolve(network: string, target: { peerId: string } | { name: string }): Promise<Peer> {
    const request =
      'peerId' in target
        ? { network, target: { $case: 'peerId' as const, value: target.peerId } }
        : { network, target: { $case: 'name' as const, value: target.name } };
    const response = await this.unary<{ peer?: PeerEntry }>((cb) =>
      this.client.resolve(request, this.meta(), this.callOptions(), cb),
    );
    return toPeer(response.peer, this.open);
  }

  /** One page; pass its nextPageToken back for the next. */
  async listPage(
    network: string,
    options: ListOptions & { pageToken?: string } = {},
  ): Promise<{ peers: Peer[]; nextPageToken: string; revision: number }> {
    const response = await this.unary<ListResponse>((cb) =>
      this.client.list(
        {
          network,
          labelSelector: options.labelSelector ?? '',
          pageSize: options.pageSize ?? 0,
          pageToken: options.pageToken ?? '',
        },
        this.meta(),
        this.callOptions(),
        cb,
      ),
    );
    return {
      peers: response.peers.map((entry) => toPeer(entry, this.open)),
      nextPageToken: response.nextPageToken,
      revision: response.revision,
    };
  }

  /**
   * Every page. `revision` is the first page's: watch from it, skipping changes at or below a
   * peer's own entry revision, and nothing is missed or applied twice.
   */
  async listAll(network: string, options: ListOptions = {}): Promise<{ peers: Peer[]; revision: number }> {
    const peers: Peer[] = [];
    let pageToken = '';
    let revision: number | undefined;
    do {
      const page = await this.listPage(network, { ...options, pageToken });
      revision ??= page.revision;
      peers.push(...page.peers);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return { peers, revision: revision ?? 0 };
  }

  /**
   * Changes of a network, in revision order, each once, across reconnects. Throws OutOfRangeError
   * when the directory no longer keeps the revision to resume from: list again, then watch.
   */
  async *watch(network: string, options: WatchOptions = {}): AsyncGenerator<PeerChange> {
    // Undefined until the first message says where a "from now" watch starts.
    let after = options.fromRevision;
    let delay = options.retryDelayMs ?? 100;
    while (!options.signal?.aborted) {
      const call = this.client.watch({ network, fromRevision: after }, this.meta());
      const abort = () => call.cancel();
      options.signal?.addEventListener('abort', abort, { once: true });
      try {
        for await (const response of call as AsyncIterable<WatchResponse>) {
          delay = options.retryDelayMs ?? 100;
          for (const event of response.events) {
            if (after !== undefined && event.revision <= after) continue;
            after = event.revision;
            yield toChange(event, this.open);
          }
          // A progress notification moves the resume point even when nothing changed.
          if (response.events.length === 0 && (after === undefined || response.revision > after)) {
            after = response.revision;
          }
        }
      } catch (error) {
        const code = (error as ServiceError).code;
        if (options.signal?.aborted) return;
        if (code === status.OUT_OF_RANGE) throw new OutOfRangeError((error as ServiceError).details);
        if (!RESUMABLE.has(code)) throw error;
      } finally {
        options.signal?.removeEventListener('abort', abort);
        call.cancel();
      }
      if (options.signal?.aborted) return;
      await sleepUnlessAborted(delay, options.signal);
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  }

  private meta(): Metadata {
    return bearerMetadata(this.introducerToken);
  }

  private callOptions() {
    return { deadline: Date.now() + this.deadlineMs };
  }

  /** A batch call's results, one per entry: a short answer would pair results with the wrong entries. */
  private async batch<R>(
    method: string,
    entries: number,
    start: (callback: (error: ServiceError | null, value?: { results: R[] }) => void) => void,
  ): Promise<R[]> {
    const { results } = await this.unary(start);
    if (results.length !== entries)
      throw new Error(`${method} answered ${results.length} results for ${entries} entries`);
    return results;
  }

  private unary<T>(start: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
  }
}

function toPeer(entry: PeerEntry | undefined, open: (signed: SignedRecord) => PeerRecord): Peer {
  if (!entry?.record) throw new Error('directory answered without a record');
  return {
    record: open(entry.record),
    signed: entry.record,
    revision: entry.revision,
    ttlRemainingMs: entry.ttlRemainingMs,
  };
}

function toChange(event: WatchResponse['events'][number], open: (signed: SignedRecord) => PeerRecord): PeerChange {
  if (!event.record) throw new Error('directory sent a change without a record');
  return {
    type: event.type === WatchEvent_Type.TYPE_DELETE ? 'delete' : 'put',
    revision: event.revision,
    peerId: event.peerId,
    record: open(event.record),
    signed: event.record,
    reason: event.reason,
  };
}
