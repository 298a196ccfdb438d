/**
 * The one map from errors to gRPC status, used at every server edge. Known domain errors keep
 * their message; anything else becomes UNKNOWN with a generic message, and its stack goes to the
 * log, never to the caller.
 */
import { Metadata, StatusObject, status } from '@grpc/grpc-js';
import { Logger } from './logging';

const CODE_BY_ERROR_NAME: Readonly<Record<string, status>> = {
  InvalidArgumentError: status.INVALID_ARGUMENT,
  UnauthenticatedError: status.UNAUTHENTICATED,
  PermissionDeniedError: status.PERMISSION_DENIED,
  FailedPreconditionError: status.FAILED_PRECONDITION,
  NotFoundError: status.NOT_FOUND,
  AlreadyExistsError: status.ALREADY_EXISTS,
  ResourceExhaustedError: status.RESOURCE_EXHAUSTED,
  OutOfRangeError: status.OUT_OF_RANGE,
  UnavailableError: status.UNAVAILABLE,
  AbortError: status.CANCELLED,
};

/** The code a domain error maps to; UNKNOWN for anything else. */
export function statusCodeOf(error: unknown): status {
  return CODE_BY_ERROR_NAME[error instanceof Error ? error.name : ''] ?? status.UNKNOWN;
}

/** A low-cardinality metric label for how a call ended: "ok" or the code name in snake case. */
export function outcomeLabel(error?: unknown): string {
  return error === undefined ? 'ok' : (status[statusCodeOf(error)] ?? 'unknown').toLowerCase();
}

export function errorToStatus(error: unknown, log: Logger, method: string): Partial<StatusObject> {
  const name = error instanceof Error ? error.name : '';
  const code = CODE_BY_ERROR_NAME[name];
  if (code !== undefined) {
    return { code, details: (error as Error).message, metadata: new Metadata() };
  }
  log.error({ err: error, method }, 'unexpected error in handler');
  return { code: status.UNKNOWN, details: `internal error in ${method}; see the server log`, metadata: new Metadata() };
}
