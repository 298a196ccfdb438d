/**
 * Registrations on others' behalf, sent together (group commit): while one RegisterBatch call is
 * out, the registrations that arrive wait, and leave together in the next. Alone, a registration
 * leaves at once; under a stream of joins one call carries many, so the caller and the directory
 * pay one call's overhead instead of one per newcomer.
 *
 * Each registration settles as a Register call would: with its lease, or with an error carrying
 * the gRPC code and details the directory answered for that entry (or for the whole call). A
 * directory older than RegisterBatch (UNIMPLEMENTED) gets single Registers from then on, so a
 * rolling upgrade that reaches the introducers first loses nothing.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { MAX_GRPC_MESSAGE_BYTES, MAX_REGISTER_BATCH } from '../common/limits';
import type { SignedRecord } from '../common/records';
import type { RegisterRequest, RegisterResponse, RegisterResult } from '../gen/grapevine/v1/directory';
import type { DirectoryClient } from './directory-client';

/** An entry's bytes on the wire beyond its record and signature: tags, lengths and the TTL. */
const ENTRY_OVERHEAD_BYTES = 24;
/** Room left in a call for its own framing. */
const CALL_OVERHEAD_BYTES = 1_024;

interface Waiting {
  readonly entry: RegisterRequest;
  readonly bytes: number;
  resolve(response: RegisterResponse): void;
  reject(error: ServiceError): void;
}

export class RegistrationBatcher {
  private readonly waiting: Waiting[] = [];
  private sending = false;
  private batches = true;

  constructor(
    private readonly directory: Pick<DirectoryClient, 'register' | 'registerBatch'>,
    /** Told the number of entries of each call made, for a metric. */
    private readonly onCall: (entries: number) => void = () => undefined,
  ) {}

  register(signed: SignedRecord, ttlSeconds = 0): Promise<RegisterResponse> {
    return new Promise((resolve, reject) => {
      const bytes = signed.record.length + signed.signature.length + ENTRY_OVERHEAD_BYTES;
      this.waiting.push({ entry: { record: signed, ttlSeconds }, bytes, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.waiting.length > 0) {
        const batch = this.nextBatch();
        // Whatever goes wrong, each waiting registration settles, and the next batch still leaves.
        await this.send(batch).catch((error: unknown) => batch.forEach((w) => w.reject(asServiceError(error))));
      }
    } finally {
      this.sending = false;
    }
  }

  /** The oldest waiting entries that fit one call, by count and by bytes. */
  private nextBatch(): Waiting[] {
    let bytes = CALL_OVERHEAD_BYTES;
    let count = 0;
    while (count < this.waiting.length && count < MAX_REGISTER_BATCH) {
      bytes += this.waiting[count].bytes;
      if (count > 0 && bytes > MAX_GRPC_MESSAGE_BYTES) break;
      count++;
    }
    return this.waiting.splice(0, count);
  }

  private async send(batch: Waiting[]): Promise<void> {
    if (!this.batches) return this.sendOneByOne(batch);
    this.onCall(batch.length);
    let results: RegisterResult[];
    try {
      results = await this.directory.registerBatch(batch.map((w) => w.entry));
    } catch (error) {
      if ((error as ServiceError).code === status.UNIMPLEMENTED) {
        this.batches = false;
        return this.sendOneByOne(batch);
      }
      for (const w of batch) w.reject(asServiceError(error));
      return;
    }
    results.forEach((result, i) => {
      const outcome = result.outcome;
      if (outcome?.$case === 'registered') batch[i].resolve(outcome.value);
      else if (outcome?.$case === 'error') batch[i].reject(serviceError(outcome.value.code, outcome.value.message));
      else
        batch[i].reject(
          serviceError(status.UNKNOWN, 'RegisterBatch answered an entry with neither a lease nor an error'),
        );
    });
  }

  private async sendOneByOne(batch: Waiting[]): Promise<void> {
    await Promise.all(
      batch.map((w) => {
        this.onCall(1);
        return this.directory
          .register(w.entry.record!, w.entry.ttlSeconds)
          .then(w.resolve, (error: unknown) => w.reject(asServiceError(error)));
      }),
    );
  }
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
