/**
 * Ed25519 as the project does it (libsodium, services/common/identity.ts) against Node's own
 * (OpenSSL), on a record-sized message: µs per signature and per verification, medians of
 * alternating rounds so both see the same machine.
 */
import { performance } from 'node:perf_hooks';
import { sign, verify } from 'node:crypto';
import { generateIdentity, signBytes, verifyBytes } from '../../../services/common/identity';
import { median, round } from './stats';

export interface SignatureCosts {
  readonly signUs: number;
  readonly verifyUs: number;
  readonly opensslSignUs: number;
  readonly opensslVerifyUs: number;
}

export function measureSignatures(rounds = 5, perRound = 2_000): SignatureCosts {
  const identity = generateIdentity();
  // About a record with two addresses and a few labels, with the signing domain in front.
  const message = Buffer.alloc(200, 7);
  const signature = signBytes(identity, message);
  const perCall = (work: () => void) => {
    const started = performance.now();
    for (let i = 0; i < perRound; i++) work();
    return ((performance.now() - started) * 1_000) / perRound;
  };
  const samples: Record<keyof SignatureCosts, number[]> = {
    signUs: [],
    verifyUs: [],
    opensslSignUs: [],
    opensslVerifyUs: [],
  };
  for (let r = 0; r <= rounds; r++) {
    const taken = {
      signUs: perCall(() => signBytes(identity, message)),
      verifyUs: perCall(() => verifyBytes(identity.peerId, message, signature)),
      opensslSignUs: perCall(() => sign(null, message, identity.privateKey)),
      opensslVerifyUs: perCall(() => verify(null, message, identity.publicKey, signature)),
    };
    // The first round warms both up and is not counted.
    if (r > 0) for (const key of Object.keys(samples) as (keyof SignatureCosts)[]) samples[key].push(taken[key]);
  }
  return {
    signUs: round(median(samples.signUs), 1),
    verifyUs: round(median(samples.verifyUs), 1),
    opensslSignUs: round(median(samples.opensslSignUs), 1),
    opensslVerifyUs: round(median(samples.opensslVerifyUs), 1),
  };
}
