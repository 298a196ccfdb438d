/**
 * Shared-secret checks on gRPC calls: the caller presents the token as metadata
 * `authorization: Bearer <token>`. The comparison takes the same time whatever the token, so
 * timing does not tell how much of a guess was right. The directory's introducer token and a
 * host's application token are both checked here; each words its own refusals.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import type { GrapevineError } from './errors';

const BEARER = /^Bearer +(\S+) *$/i;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Why a call's metadata does not carry the token; `off` when no token is configured. */
export type TokenRefusal = 'off' | 'missing' | 'malformed' | 'mismatch';

function refusal(expected: Buffer | undefined, metadata: Metadata): TokenRefusal | undefined {
  if (!expected) return 'off';
  const values = metadata.get('authorization');
  if (values.length === 0) return 'missing';
  const match = values.length === 1 && typeof values[0] === 'string' ? BEARER.exec(values[0]) : null;
  if (!match) return 'malformed';
  // Digests have one length, so timingSafeEqual never leaks the token's length either.
  return timingSafeEqual(digest(match[1]), expected) ? undefined : 'mismatch';
}

/** How to word each refusal; without `off`, no configured token lets every call through. */
export type TokenRefusals = Readonly<Record<Exclude<TokenRefusal, 'off'>, () => GrapevineError>> & {
  readonly off?: () => GrapevineError;
};

/**
 * Returns the check for one configured token ('' for none): it answers undefined when the call
 * may go on, else the refusal's error, built by `refuse`.
 */
export function bearerTokenCheck(
  configured: string,
  refuse: TokenRefusals,
): (metadata: Metadata) => GrapevineError | undefined {
  const expected = configured === '' ? undefined : digest(configured);
  return (metadata) => {
    const why = refusal(expected, metadata);
    return why === undefined ? undefined : refuse[why]?.();
  };
}

/** Whether a call carries the configured token: no error is built for the many that do not. */
export function carriesBearerToken(configured: string): (metadata: Metadata) => boolean {
  const expected = configured === '' ? undefined : digest(configured);
  return (metadata) => refusal(expected, metadata) === undefined;
}

/** Metadata that carries `token` ('' or undefined: empty metadata). */
export function bearerMetadata(token: string | undefined): Metadata {
  const metadata = new Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}
