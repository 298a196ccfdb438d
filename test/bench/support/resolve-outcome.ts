/**
 * A Resolve's outcome in one byte, as the load workers report them (WorkerReport.resolveOutcomes)
 * and the soak reads them: 0 answered, 1 NOT_FOUND, and for a call that failed, FAILED_OUTCOME
 * plus the gRPC status code of its last attempt. Its own module: the worker runs on import.
 */
export const OK_OUTCOME = 0;
export const NOT_FOUND_OUTCOME = 1;
export const FAILED_OUTCOME = 2;
