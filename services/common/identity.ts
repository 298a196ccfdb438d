/**
 * Peer identity: an Ed25519 key pair. The peer id is derived from the public key ("b" + base32 of
 * the 32 raw key bytes, 53 characters), so anyone holding an id can check a signature against it,
 * and the id is a valid DNS label: `<id>.<network>` can one day be answered over DNS.
 *
 * Keys are stored and exchanged in Node's formats (PKCS#8 PEM, KeyObject); signing and verifying
 * run in libsodium, which does both in about 60% of the time OpenSSL takes here, and every record
 * a peer, an introducer or the directory takes in is verified once.
 */
import { KeyObject, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
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
  /** libsodium's form of the private key: the seed, then the public key (64 bytes). */
  readonly signingKey: Buffer;
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
  return withKeys(seed, privateKey);
}

export function identityFromPem(pem: string): Identity {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`key is ${privateKey.asymmetricKeyType ?? 'not asymmetric'}, expected ed25519`);
  }
  return withKeys(Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url'), privateKey);
}

function withKeys(seed: Buffer, privateKey: KeyObject): Identity {
  const publicKey = createPublicKey(privateKey);
  const signingKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES), signingKey, seed);
  return { peerId: peerIdFromPublicKey(publicKey), privateKey, publicKey, signingKey };
}

export function identityToPem(identity: Identity): string {
  return identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function peerIdFromPublicKey(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return PEER_ID_PREFIX + encodeBase32(Buffer.from(jwk.x as string, 'base64url'));
}

// Decoding an id costs a few percent of a verification, and the same few peers sign most records
// we see, so keep the last keys decoded.
const publicKeyCache = new Map<string, Buffer>();
const PUBLIC_KEY_CACHE_SIZE = 4_096;

/** The raw public key an id names, or undefined when the text is not a well-formed peer id. */
function publicKeyBytes(peerId: string): Buffer | undefined {
  const cached = publicKeyCache.get(peerId);
  if (cached) return cached;
  if (peerId.length !== PEER_ID_LENGTH || !peerId.startsWith(PEER_ID_PREFIX)) return undefined;
  const raw = decodeBase32(peerId.slice(PEER_ID_PREFIX.length));
  if (!raw || raw.length !== PUBLIC_KEY_BYTES) return undefined;
  rememberNewest(publicKeyCache, peerId, raw, PUBLIC_KEY_CACHE_SIZE);
  return raw;
}

/** The public key an id names, or undefined when the text is not a well-formed peer id. */
export function publicKeyFromPeerId(peerId: string): KeyObject | undefined {
  const raw = publicKeyBytes(peerId);
  if (!raw) return undefined;
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  } catch {
    return undefined;
  }
}

export function isPeerId(text: string): boolean {
  return publicKeyBytes(text) !== undefined;
}

export function signBytes(identity: Identity, message: Buffer): Buffer {
  const signature = Buffer.alloc(sodium.crypto_sign_BYTES);
  sodium.crypto_sign_detached(signature, message, identity.signingKey);
  return signature;
}

export function verifyBytes(peerId: string, message: Buffer, signature: Uint8Array): boolean {
  const key = publicKeyBytes(peerId);
  if (!key || signature.length !== sodium.crypto_sign_BYTES) return false;
  return sodium.crypto_sign_verify_detached(signature, message, key);
}
