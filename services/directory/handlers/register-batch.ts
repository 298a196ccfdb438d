import { MAX_REGISTER_BATCH } from '../../common/limits';
import type { RegisterBatchRequest, RegisterBatchResponse } from '../../gen/grapevine/v1/directory';
import type { DirectoryContext } from '../context';
import { eachEntry } from './batch';
import { register } from './register';

/** Each entry is a Register of its own, answered in order (see eachEntry). */
export async function registerBatch(
  context: DirectoryContext,
  request: RegisterBatchRequest,
  source: string,
  trusted: boolean,
): Promise<RegisterBatchResponse> {
  const outcomes = await eachEntry(context, 'RegisterBatch', request.entries, MAX_REGISTER_BATCH, (entry) =>
    register(context, entry, source, trusted),
  );
  return {
    results: outcomes.map((o) => ({
      outcome: o.ok ? { $case: 'registered', value: o.value } : { $case: 'error', value: o.error },
    })),
  };
}
