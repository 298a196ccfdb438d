/**
 * Who may call Evict: callers that present the directory's introducer token as gRPC metadata
 * `authorization: Bearer <token>`. The comparison takes the same time whatever the token, so
 * timing does not tell how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { GrapevineError, PermissionDeniedError, UnauthenticatedError } from '../common/errors';

const BEARER = /^Bearer +(\S+) *$/i;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Why a call's metadata does not carry the token. */
type Refusal = 'off' | 'missing' | 'malformed' | 'mismatch';

const REFUSALS: Record<Refusal, () => GrapevineError> = {
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

function refusal(expected: Buffer | undefined, metadata: Metadata): Refusal | undefined {
  if (!expected) return 'off';
  const values = metadata.get('authorization');
  if (values.length === 0) return 'missing';
  const match = values.length === 1 && typeof values[0] === 'string' ? BEARER.exec(values[0]) : null;
  if (!match) return 'malformed';
  // Digests have one length, so timingSafeEqual never leaks the token's length either.
  return timingSafeEqual(digest(match[1]), expected) ? undefined : 'mismatch';
}

/**
 * Returns the check for one configured token: it answers undefined when the call's metadata
 * carries that token, else the error to refuse the call with. An empty configured token turns
 * Evict off for everyone.
 */
export function introducerTokenCheck(configured: string): (metadata: Metadata) => GrapevineError | undefined {
  const expected = configured === '' ? undefined : digest(configured);
  return (metadata) => {
    const why = refusal(expected, metadata);
    return why === undefined ? undefined : REFUSALS[why]();
  };
}

/**
 * Whether a call carries the configured token, for calls that are open to all but treat
 * introducers differently: no error is built for the many that do not.
 */
export function carriesIntroducerToken(configured: string): (metadata: Metadata) => boolean {
  const expected = configured === '' ? undefined : digest(configured);
  return (metadata) => refusal(expected, metadata) === undefined;
}
