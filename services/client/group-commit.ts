/**
 * Group commit of one kind of call: while one batch call is out, the entries that arrive wait,
 * and leave together in the next. Alone, an entry leaves at once (or after `lingerMs`, for calls
 * that can wait: the entries of that while go together); under a stream of them one call carries
 * many, so the caller and the server pay one call's overhead instead of one per entry.
 *
 * Each entry settles as its single call would: with its result, or with an error carrying the
 * gRPC code and details the server answered for that entry (or for the whole call). A server
 * older than the batch call (UNIMPLEMENTED) gets single calls from then on, so a rolling upgrade
 * that reaches the callers first loses nothing.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';

/** What one entry of a batch call came back with. */
export type EntryOutcome<Result> =
  { readonly ok: true; readonly value: Result } | { readonly ok: false; readonly error: ServiceError };

export interface BatchedCall<Entry, Result> {
  /** Most entries one call may carry. */
  readonly maxEntries: number;
  /** An entry's bytes on the wire: a call stays under the message limit. */
  bytesOf(entry: Entry): number;
  /** The batch call: one outcome for each entry, in order (DirectoryClient checks the count). */
  many(entries: Entry[]): Promise<EntryOutcome<Result>[]>;
  /** The single call, for a server without the batch call. */
  one(entry: Entry): Promise<Result>;
}

/** Room left in a call for its own framing. */
const CALL_OVERHEAD_BYTES = 1_024;

interface Waiting<Entry, Result> {
  readonly entry: Entry;
  readonly bytes: number;
  resolve(result: Result): void;
  reject(error: ServiceError): void;
}

export interface GroupCommitOptions {
  /** Told the number of entries of each call made, for a metric. */
  readonly onCall?: (entries: number) => void;
  /** How long an entry that finds no call out waits for others before it leaves (0: not at all). */
  readonly lingerMs?: number;
}

export class GroupCommit<Entry, Result> {
  private readonly waiting: Waiting<Entry, Result>[] = [];
  private sending = false;
  private lingering: NodeJS.Timeout | undefined;
  private batches = true;
  private readonly onCall: (entries: number) => void;
  private readonly lingerMs: number;

  constructor(
    private readonly call: BatchedCall<Entry, Result>,
    options: GroupCommitOptions = {},
  ) {
    this.onCall = options.onCall ?? (() => undefined);
    this.lingerMs = options.lingerMs ?? 0;
  }

  submit(entry: Entry): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ entry, bytes: this.call.bytesOf(entry), resolve, reject });
      if (this.sending) return;
      if (this.lingerMs === 0 || this.waiting.length >= this.call.maxEntries) {
        clearTimeout(this.lingering);
        void this.drain();
      } else {
        // Unref'd: a caller that stops leaves nothing running; what waits then is never sent.
        this.lingering ??= setTimeout(() => void this.drain(), this.lingerMs).unref();
      }
    });
  }

  private async drain(): Promise<void> {
    this.lingering = undefined;
    this.sending = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.nextBatch();
        // Whatever goes wrong, each waiting entry settles, and the next batch still leaves.
        await this.send(batch).catch((error: unknown) => batch.forEach((w) => w.reject(asServiceError(error))));
      }
    } finally {
      this.sending = false;
    }
  }

  /** The oldest waiting entries that fit one call, by count and by bytes. */
  private nextBatch(): Waiting<Entry, Result>[] {
    let bytes = CALL_OVERHEAD_BYTES;
    let count = 0;
    while (count < this.waiting.length && count < this.call.maxEntries) {
      bytes += this.waiting[count].bytes;
      if (count > 0 && bytes > MAX_GRPC_MESSAGE_BYTES) break;
      count++;
    }
    return this.waiting.splice(0, count);
  }

  private async send(batch: Waiting<Entry, Result>[]): Promise<void> {
    if (!this.batches) return this.sendOneByOne(batch);
    this.onCall(batch.length);
    let outcomes: EntryOutcome<Result>[];
    try {
      outcomes = await this.call.many(batch.map((w) => w.entry));
    } catch (error) {
      if ((error as ServiceError).code === status.UNIMPLEMENTED) {
        this.batches = false;
        return this.sendOneByOne(batch);
      }
      for (const w of batch) w.reject(asServiceError(error));
      return;
    }
    outcomes.forEach((outcome, i) => (outcome.ok ? batch[i].resolve(outcome.value) : batch[i].reject(outcome.error)));
  }

  private async sendOneByOne(batch: Waiting<Entry, Result>[]): Promise<void> {
    await Promise.all(
      batch.map((w) => {
        this.onCall(1);
        return this.call.one(w.entry).then(w.resolve, (error: unknown) => w.reject(asServiceError(error)));
      }),
    );
  }
}

/**
 * An entry's outcome from a batch result's oneof: its value, the error the server named for it,
 * or UNKNOWN when the server answered neither.
 */
export function entryOutcome<Result>(
  call: string,
  outcome: { $case: string; value: unknown } | undefined,
  valueCase: string,
): EntryOutcome<Result> {
  if (outcome?.$case === valueCase) return { ok: true, value: outcome.value as Result };
  if (outcome?.$case === 'error') {
    const { code, message } = outcome.value as { code: number; message: string };
    return { ok: false, error: serviceError(code, message) };
  }
  return {
    ok: false,
    error: serviceError(status.UNKNOWN, `${call} answered an entry with neither a result nor an error`),
  };
}

function serviceError(code: number, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code] ?? 'UNKNOWN'}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}

function asServiceError(error: unknown): ServiceError {
  const e = error as Partial<ServiceError>;
  return e.code !== undefined && e.details !== undefined
    ? (error as ServiceError)
    : serviceError(status.UNKNOWN, (error as Error).message);
}
