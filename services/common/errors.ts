/**
 * Domain errors. Each has a stable `name` that tests assert on and that the one gRPC status map
 * (grpc-status.ts) turns into a code. Messages are for people: say what was wrong and what to do.
 */
export class GrapevineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request is malformed: bad bytes, a bad label, a value out of range. */
export class InvalidArgumentError extends GrapevineError {}

/** The caller did not say who it is: no credentials, or not in the form asked for. */
export class UnauthenticatedError extends GrapevineError {}

/** A signature does not verify, or a record is signed for another id. */
export class PermissionDeniedError extends GrapevineError {}

/** The request is well formed but the state forbids it, e.g. an equal or older record seq. */
export class FailedPreconditionError extends GrapevineError {}

/** The thing asked for does not exist (or no longer does, like a lost lease). */
export class NotFoundError extends GrapevineError {}

/** Somebody else holds it, like a name claimed by another live peer. */
export class AlreadyExistsError extends GrapevineError {}

/** A size or rate limit was exceeded; the message names the limit. */
export class ResourceExhaustedError extends GrapevineError {}

/** A watch asked for a revision the store no longer keeps: list again. */
export class OutOfRangeError extends GrapevineError {}

/** A dependency (Redis, a peer) cannot be reached right now; retrying may help. */
export class UnavailableError extends GrapevineError {}
