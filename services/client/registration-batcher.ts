/**
 * Registrations on others' behalf (an introducer admitting newcomers), sent together through
 * RegisterBatch while one call is out (see GroupCommit). Each settles as a Register call would.
 */
import { MAX_REGISTER_BATCH } from '../common/limits';
import type { SignedRecord } from '../common/records';
import type { RegisterRequest, RegisterResponse } from '../gen/grapevine/v1/directory';
import type { DirectoryClient } from './directory-client';
import { GroupCommit, entryOutcome } from './group-commit';

/** An entry's bytes on the wire beyond its record and signature: tags, lengths and the TTL. */
const ENTRY_OVERHEAD_BYTES = 24;

export class RegistrationBatcher {
  private readonly commit: GroupCommit<RegisterRequest, RegisterResponse>;

  constructor(
    directory: Pick<DirectoryClient, 'register' | 'registerBatch'>,
    /** Told the number of entries of each call made, for a metric. */
    onCall?: (entries: number) => void,
  ) {
    this.commit = new GroupCommit(
      {
        maxEntries: MAX_REGISTER_BATCH,
        bytesOf: (entry) => entry.record!.record.length + entry.record!.signature.length + ENTRY_OVERHEAD_BYTES,
        many: async (entries) =>
          (await directory.registerBatch(entries)).map((result) =>
            entryOutcome<RegisterResponse>('RegisterBatch', result.outcome, 'registered'),
          ),
        one: (entry) => directory.register(entry.record!, entry.ttlSeconds),
      },
      // A newcomer waits for its registration: none lingers.
      { onCall },
    );
  }

  register(signed: SignedRecord, ttlSeconds = 0): Promise<RegisterResponse> {
    return this.commit.submit({ record: signed, ttlSeconds });
  }
}
