/**
 * Static seeds from configuration: "host:port", "[v6]:port", or "<peer id>@host:port". A peer id
 * lets the host check that the seed is who the operator meant before trusting what it says.
 */
import { isPeerId } from '../../common/identity';
import { parseHostPort } from '../../common/records';

export interface SeedAddress {
  /** "host:port" or "[v6]:port", as configured. */
  readonly address: string;
  /** The peer expected at the address, when the seed names one. */
  readonly peerId?: string;
  /** The name its certificate must carry, when it differs from the address's host (a DNS seed's IP). */
  readonly serverName?: string;
}

export class SeedError extends Error {
  override name = 'SeedError';
}

const EXPECTED_FORMS =
  'expected host:port, [IPv6]:port or <peer id>@host:port (a port 1-65535; a peer id is "b" and 52 base32 characters)';

/** Throws SeedError naming the bad value and the accepted forms. Surrounding spaces are ignored. */
export function parseSeed(text: string): SeedAddress {
  const seed = text.trim();
  if (seed === '') throw new SeedError(`seed is empty; ${EXPECTED_FORMS}`);
  const at = seed.indexOf('@');
  const address = at < 0 ? seed : seed.slice(at + 1);
  if (!parseHostPort(address)) {
    throw new SeedError(
      `seed ${JSON.stringify(text)}: ${JSON.stringify(address)} is not an address; ${EXPECTED_FORMS}`,
    );
  }
  if (at < 0) return { address };
  const peerId = seed.slice(0, at);
  if (!isPeerId(peerId)) {
    throw new SeedError(`seed ${JSON.stringify(text)}: ${JSON.stringify(peerId)} is not a peer id; ${EXPECTED_FORMS}`);
  }
  return { address, peerId };
}

/**
 * Parses every seed, drops exact repeats and keeps the order. Throws one SeedError listing every
 * bad seed, so an operator fixes them all in one go. Two different peer ids for one address
 * contradict each other and are refused too.
 */
export function parseSeeds(list: readonly string[]): SeedAddress[] {
  const seeds: SeedAddress[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const peerIdByAddress = new Map<string, string>();
  for (const text of list) {
    let seed: SeedAddress;
    try {
      seed = parseSeed(text);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    const key = `${seed.peerId ?? ''}@${seed.address}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (seed.peerId !== undefined) {
      const known = peerIdByAddress.get(seed.address);
      if (known !== undefined) {
        problems.push(`seeds name two peer ids for ${seed.address}: ${known} and ${seed.peerId}; keep one`);
        continue;
      }
      peerIdByAddress.set(seed.address, seed.peerId);
    }
    seeds.push(seed);
  }
  if (problems.length > 0) throw new SeedError(problems.join('\n'));
  return seeds;
}
