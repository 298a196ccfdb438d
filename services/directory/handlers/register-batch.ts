import { InvalidArgumentError } from '../../common/errors';
import { errorToStatus } from '../../common/grpc-status';
import { MAX_REGISTER_BATCH } from '../../common/limits';
import type { RegisterBatchRequest, RegisterBatchResponse, RegisterResult } from '../../gen/grapevine/v1/directory';
import type { DirectoryContext } from '../context';
import { register } from './register';

/**
 * Each entry is a Register of its own (the same checks, limits, metrics and write), answered in
 * order with its result or the status Register would have answered. The entries run together:
 * their Redis commands leave in one pipeline, and the caller pays for one call instead of many.
 */
export async function registerBatch(
  context: DirectoryContext,
  request: RegisterBatchRequest,
  source: string,
  trusted: boolean,
): Promise<RegisterBatchResponse> {
  if (request.entries.length > MAX_REGISTER_BATCH) {
    throw new InvalidArgumentError(
      `${request.entries.length} entries are more than the ${MAX_REGISTER_BATCH} one RegisterBatch call may carry: split them`,
    );
  }
  const results = await Promise.all(
    request.entries.map((entry): Promise<RegisterResult> =>
      register(context, entry, source, trusted).then(
        (registered) => ({ outcome: { $case: 'registered', value: registered } }),
        (error: unknown) => {
          const { code, details } = errorToStatus(error, context.log, 'RegisterBatch');
          return { outcome: { $case: 'error', value: { code: code!, message: details! } } };
        },
      ),
    ),
  );
  return { results };
}
