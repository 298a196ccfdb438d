/**
 * Lease renewals on others' behalf (an introducer keeping its members' leases), sent together
 * through RenewBatch (see GroupCommit). Each settles as a Renew call would: with the TTL granted,
 * in seconds, or NOT_FOUND for a lost lease.
 *
 * The renewals come due one by one, each at its member's probe (spread over the probe interval),
 * and a lease has a third of its TTL to spare: a renewal waits up to RENEW_LINGER_MS for the
 * others due meanwhile. So renewals leave in one call per linger, ten a second, while fewer than
 * MAX_RENEW_BATCH (256) come due in one, and in full calls of 256 past that: 2,000 renewals a
 * second make about ten calls, not 2,000.
 */
import { MAX_RENEW_BATCH } from '../common/limits';
import type { RenewRequest, RenewResponse } from '../gen/grapevine/v1/directory';
import type { DirectoryClient } from './directory-client';
import { GroupCommit, entryOutcome } from './group-commit';

/** An entry's bytes on the wire beyond its lease id: tags and lengths. */
const ENTRY_OVERHEAD_BYTES = 8;
/** Well inside the third of a TTL a renewal has to spare (the directory's least TTL is 1 s). */
export const RENEW_LINGER_MS = 100;

export class RenewalBatcher {
  private readonly commit: GroupCommit<RenewRequest, RenewResponse>;

  constructor(
    directory: Pick<DirectoryClient, 'renew' | 'renewBatch'>,
    /** Told the number of entries of each call made, for a metric. */
    onCall?: (entries: number) => void,
    lingerMs = RENEW_LINGER_MS,
  ) {
    this.commit = new GroupCommit(
      {
        maxEntries: MAX_RENEW_BATCH,
        bytesOf: (entry) => Buffer.byteLength(entry.leaseId) + ENTRY_OVERHEAD_BYTES,
        many: async (entries) =>
          (await directory.renewBatch(entries)).map((result) =>
            entryOutcome<RenewResponse>('RenewBatch', result.outcome, 'renewed'),
          ),
        one: async (entry) => ({ ttlSeconds: await directory.renew(entry.leaseId) }),
      },
      { onCall, lingerMs },
    );
  }

  /** Resolves with the TTL granted, in seconds. */
  async renew(leaseId: string): Promise<number> {
    return (await this.commit.submit({ leaseId })).ttlSeconds;
  }
}
