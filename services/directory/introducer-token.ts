/**
 * Who may call Evict: callers that present the directory's introducer token as gRPC metadata
 * `authorization: Bearer <token>` (checked in common/bearer-token.ts).
 */
import { Metadata } from '@grpc/grpc-js';
import { bearerTokenCheck } from '../common/bearer-token';
import { GrapevineError, PermissionDeniedError, UnauthenticatedError } from '../common/errors';

const REFUSALS = {
  off: () =>
    new PermissionDeniedError(
      'Evict is off on this directory: set introducerToken (GRAPEVINE_INTRODUCER_TOKEN) on the directory and its introducers to turn it on',
    ),
  missing: () =>
    new UnauthenticatedError('Evict needs the introducer token: send metadata "authorization: Bearer <token>"'),
  malformed: () =>
    new UnauthenticatedError(
      'the authorization metadata must be one "Bearer <token>" value carrying the introducer token',
    ),
  mismatch: () => new PermissionDeniedError("the introducer token does not match this directory's introducerToken"),
};

/**
 * Returns the check for one configured token: it answers undefined when the call's metadata
 * carries that token, else the error to refuse the call with. An empty configured token turns
 * Evict off for everyone.
 */
export function introducerTokenCheck(configured: string): (metadata: Metadata) => GrapevineError | undefined {
  return bearerTokenCheck(configured, REFUSALS);
}
