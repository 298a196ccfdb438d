import { MAX_RENEW_BATCH } from '../../common/limits';
import type { RenewBatchRequest, RenewBatchResponse } from '../../gen/grapevine/v1/directory';
import type { DirectoryContext } from '../context';
import { eachEntry } from './batch';
import { renew } from './renew';

/**
 * Each entry is a Renew of its own, answered in order (see eachEntry). Like Renew, it asks for
 * nothing but the lease ids: holding a lease id is what lets a caller renew it.
 */
export async function renewBatch(context: DirectoryContext, request: RenewBatchRequest): Promise<RenewBatchResponse> {
  const outcomes = await eachEntry(context, 'RenewBatch', request.entries, MAX_RENEW_BATCH, (entry) =>
    renew(context, entry),
  );
  return {
    results: outcomes.map((o) => ({
      outcome: o.ok ? { $case: 'renewed', value: o.value } : { $case: 'error', value: o.error },
    })),
  };
}
