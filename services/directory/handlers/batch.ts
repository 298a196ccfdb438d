import { InvalidArgumentError } from '../../common/errors';
import { errorToStatus } from '../../common/grpc-status';
import type { EntryError } from '../../gen/grapevine/v1/directory';
import type { DirectoryContext } from '../context';

/**
 * A batch call's entries, each handled as its single call would be (the same checks, limits,
 * metrics and write), answered in order with its result or the status the single call would have
 * answered. The entries run together: their Redis commands leave in one pipeline, and the caller
 * pays for one call instead of many. More than `max` entries: INVALID_ARGUMENT, nothing done.
 */
export async function eachEntry<Entry, Result>(
  context: DirectoryContext,
  call: string,
  entries: readonly Entry[],
  max: number,
  handle: (entry: Entry) => Promise<Result>,
): Promise<({ ok: true; value: Result } | { ok: false; error: EntryError })[]> {
  if (entries.length > max) {
    throw new InvalidArgumentError(
      `${entries.length} entries are more than the ${max} one ${call} call may carry: split them`,
    );
  }
  return Promise.all(
    entries.map((entry) =>
      handle(entry).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => {
          const { code, details } = errorToStatus(error, context.log, call);
          return { ok: false as const, error: { code: code!, message: details! } };
        },
      ),
    ),
  );
}
