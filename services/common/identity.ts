/**
 * Peer identity: an Ed25519 key pair. The peer id is derived from the public key ("b" + base32 of
 * the 32 raw key bytes, 53 characters), so anyone holding an id can check a signature against it,
 * and the id is a valid DNS label: `<id>.<network>` can one day be answered over DNS.
 */
import {
  KeyObject,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { decodeBase32, encodeBase32 } from './base32';
import { rememberNewest } from '../membership/bounded-memory';

/** The multibase prefix for base32: an id always starts with a letter. */
const PEER_ID_PREFIX = 'b';
const PUBLIC_KEY_BYTES = 32;
export const PEER_ID_LENGTH = PEER_ID_PREFIX.length + Math.ceil((PUBLIC_KEY_BYTES * 8) / 5);

export interface Identity {
  readonly peerId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** PKCS#8 DER of an Ed25519 private key is this fixed prefix followed by the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SEED_BYTES = 32;

/**
 * A new identity from 32 random bytes. (Built from a seed rather than generateKeyPairSync, which
 * was seen to hang in Node 20 when called many thousands of times in one process.)
 */
export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(SEED_BYTES));
}

/** The identity a 32-byte Ed25519 seed determines (RFC 8032): the same seed, the same peer id. */
export function identityFromSeed(seed: Buffer): Identity {
  if (seed.length !== SEED_BYTES) throw new RangeError(`an Ed25519 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  return { peerId: peerIdFromPublicKey(publicKey), privateKey, publicKey };
}

export function identityFromPem(pem: string): Identity {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`key is ${privateKey.asymmetricKeyType ?? 'not asymmetric'}, expected ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  return { peerId: peerIdFromPublicKey(publicKey), privateKey, publicKey };
}

export function identityToPem(identity: Identity): string {
  return identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function peerIdFromPublicKey(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return PEER_ID_PREFIX + encodeBase32(Buffer.from(jwk.x as string, 'base64url'));
}

// Parsing a key costs about as much as verifying with it, and the same few peers sign most
// records we see, so keep the last keys parsed.
const publicKeyCache = new Map<string, KeyObject>();
const PUBLIC_KEY_CACHE_SIZE = 4_096;

/** The public key an id names, or undefined when the text is not a well-formed peer id. */
export function publicKeyFromPeerId(peerId: string): KeyObject | undefined {
  const cached = publicKeyCache.get(peerId);
  if (cached) return cached;
  if (peerId.length !== PEER_ID_LENGTH || !peerId.startsWith(PEER_ID_PREFIX)) return undefined;
  const raw = decodeBase32(peerId.slice(PEER_ID_PREFIX.length));
  if (!raw || raw.length !== PUBLIC_KEY_BYTES) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return undefined;
  }
  rememberNewest(publicKeyCache, peerId, key, PUBLIC_KEY_CACHE_SIZE);
  return key;
}

export function isPeerId(text: string): boolean {
  return publicKeyFromPeerId(text) !== undefined;
}

export function signBytes(identity: Identity, message: Buffer): Buffer {
  return cryptoSign(null, message, identity.privateKey);
}

export function verifyBytes(peerId: string, message: Buffer, signature: Buffer): boolean {
  const key = publicKeyFromPeerId(peerId);
  if (!key || signature.length !== 64) return false;
  try {
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false;
  }
}
