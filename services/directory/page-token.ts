/**
 * List page tokens: opaque to callers, base64url of a small JSON cursor. A token names its
 * network so it cannot be replayed against another one.
 */
import { InvalidArgumentError } from '../common/errors';
import { isPeerId } from '../common/identity';

interface Cursor {
  readonly network: string;
  readonly after: string;
}

export function encodePageToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify({ v: 1, n: cursor.network, a: cursor.after })).toString('base64url');
}

export function decodePageToken(token: string, network: string): Cursor {
  const bad = (why: string) =>
    new InvalidArgumentError(`page_token is not one this directory issued (${why}); start again with an empty token`);
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad('malformed');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad('malformed');
  }
  const { v, n, a } = (parsed ?? {}) as { v?: unknown; n?: unknown; a?: unknown };
  if (v !== 1 || typeof n !== 'string' || typeof a !== 'string' || !isPeerId(a)) throw bad('malformed');
  if (n !== network) throw bad(`it was issued for network ${n}`);
  return { network: n, after: a };
}
