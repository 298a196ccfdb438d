import fc from 'fast-check';
import {
  PEER_ID_LENGTH,
  generateIdentity,
  identityFromPem,
  identityFromSeed,
  identityToPem,
  isPeerId,
  publicKeyFromPeerId,
  peerIdFromPublicKey,
  signBytes,
  verifyBytes,
} from './identity';
import { isDnsLabel } from './labels';

describe('identity', () => {
  const identity = generateIdentity();

  test('a peer id is a 53-character DNS label starting with "b"', () => {
    expect(identity.peerId).toHaveLength(PEER_ID_LENGTH);
    expect(PEER_ID_LENGTH).toBe(53);
    expect(identity.peerId.startsWith('b')).toBe(true);
    expect(isDnsLabel(identity.peerId)).toBe(true);
  });

  test('ids round-trip: id -> public key -> id', () => {
    for (let i = 0; i < 20; i++) {
      const { peerId } = generateIdentity();
      expect(peerIdFromPublicKey(publicKeyFromPeerId(peerId)!)).toBe(peerId);
    }
  });

  test('a seed determines the identity (RFC 8032 test vector 1)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const publicKey = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    const expected = 'b' + require('./base32').encodeBase32(publicKey);
    expect(identityFromSeed(seed).peerId).toBe(expected);
    expect(() => identityFromSeed(Buffer.alloc(31))).toThrow(RangeError);
  });

  test('a PEM key file gives back the same identity', () => {
    expect(identityFromPem(identityToPem(identity)).peerId).toBe(identity.peerId);
  });

  test('a non-Ed25519 PEM is refused with the reason', () => {
    const { generateKeyPairSync } = require('node:crypto') as typeof import('node:crypto');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => identityFromPem(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())).toThrow(
      /expected ed25519/,
    );
  });

  test('signatures verify only for the signer and the signed bytes', () => {
    const message = Buffer.from('hello');
    const signature = signBytes(identity, message);
    expect(verifyBytes(identity.peerId, message, signature)).toBe(true);
    expect(verifyBytes(generateIdentity().peerId, message, signature)).toBe(false);
    expect(verifyBytes(identity.peerId, Buffer.from('hellp'), signature)).toBe(false);
    expect(verifyBytes(identity.peerId, message, signature.subarray(1))).toBe(false);
  });

  test('signatures are plain Ed25519: RFC 8032 test vector 1, and interchangeable with OpenSSL', () => {
    // Peers in other languages sign and verify records with their own Ed25519.
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const vector = identityFromSeed(seed);
    expect(signBytes(vector, Buffer.alloc(0)).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const { sign, verify } = require('node:crypto') as typeof import('node:crypto');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const message = Buffer.from(bytes);
        expect(verify(null, message, identity.publicKey, signBytes(identity, message))).toBe(true);
        expect(verifyBytes(identity.peerId, message, sign(null, message, identity.privateKey))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  test('an identity read from its PEM file signs as the original does', () => {
    const message = Buffer.from('the same key');
    const again = identityFromPem(identityToPem(identity));
    expect(signBytes(again, message)).toEqual(signBytes(identity, message));
  });

  test('a signature of the wrong length, or a changed one, does not verify', () => {
    const message = Buffer.from('hello');
    const signature = signBytes(identity, message);
    expect(verifyBytes(identity.peerId, message, Buffer.concat([signature, Buffer.alloc(1)]))).toBe(false);
    expect(verifyBytes(identity.peerId, message, new Uint8Array(0))).toBe(false);
    const flipped = Buffer.from(signature);
    flipped[63] ^= 0x10;
    expect(verifyBytes(identity.peerId, message, flipped)).toBe(false);
    expect(verifyBytes('not-a-peer-id', message, signature)).toBe(false);
  });

  test('text that is not a peer id is refused', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        fc.pre(text !== identity.peerId);
        expect(isPeerId(text)).toBe(text.length === 53 && publicKeyFromPeerId(text) !== undefined);
      }),
    );
    expect(isPeerId(identity.peerId.toUpperCase())).toBe(false);
    expect(isPeerId(`a${identity.peerId.slice(1)}`)).toBe(false);
  });
});
