/**
 * DNS seeds: names whose records list introducers or hosts. Two forms:
 *
 *   "_grapevine._tcp.example.org"  a name starting with "_" is an SRV name: each target is
 *                                  resolved to A and AAAA and used with the SRV port, targets in
 *                                  priority order (lowest first), then heaviest weight first
 *   "seeds.example.org:7946"       any other name is resolved to A and AAAA, with its port or,
 *   "seeds.example.org"            when it gives none, the default port
 *
 * A seed that does not resolve becomes a problem string for the log, never a throw: one dead name
 * must not keep a host from trying the others.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseHostPort } from '../../common/records';

/** Tries per query and server. c-ares may lengthen the timeout on each retry. */
export const DEFAULT_DNS_TRIES = 2;

export interface DnsSeedOptions {
  /** The DNS server to ask, "ip", "ip:port" or "[v6]:port"; the system's resolvers when absent. */
  readonly resolverAddress?: string;
  /** Port for a name seed that gives none. */
  readonly defaultPort: number;
  /** Time one query try waits for an answer, in ms. Too low fails slow servers; too high stalls bootstrap. */
  readonly timeoutMs: number;
  /** Tries per query; DEFAULT_DNS_TRIES when absent. */
  readonly tries?: number;
}

export interface DnsSeedResult {
  /** "ip:port" and "[v6]:port", in seed order, without repeats. */
  readonly addresses: string[];
  /**
   * The DNS name each address was found under (the seed's name, or the SRV target's): under TLS
   * the peer at the address is checked against it, since a certificate names hosts, not IPs.
   */
  readonly serverNames: Readonly<Record<string, string>>;
  /** One line per seed (or SRV target) that failed: the name and the DNS error code. */
  readonly problems: string[];
}

/** Throws RangeError on bad options; never on a seed that fails to resolve. */
export async function resolveDnsSeeds(seeds: readonly string[], options: DnsSeedOptions): Promise<DnsSeedResult> {
  const resolver = createResolver(options);
  const results = await Promise.all(seeds.map((seed) => resolveSeed(resolver, seed, options.defaultPort)));
  return {
    addresses: [...new Set(results.flatMap((result) => result.addresses))],
    // The first name an address was found under wins, as its first place in the list does.
    serverNames: Object.assign({}, ...[...results].reverse().map((result) => result.serverNames)),
    problems: results.flatMap((result) => result.problems),
  };
}

function createResolver({ resolverAddress, defaultPort, timeoutMs, tries = DEFAULT_DNS_TRIES }: DnsSeedOptions) {
  if (!Number.isSafeInteger(defaultPort) || defaultPort < 1 || defaultPort > 65_535) {
    throw new RangeError(`DNS seed defaultPort must be 1-65535, got ${defaultPort}`);
  }
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new RangeError(`DNS seed timeoutMs must be a whole number of ms from 1, got ${timeoutMs}`);
  }
  if (!Number.isSafeInteger(tries) || tries < 1) {
    throw new RangeError(`DNS seed tries must be a whole number from 1, got ${tries}`);
  }
  const resolver = new Resolver({ timeout: timeoutMs, tries });
  if (resolverAddress !== undefined) {
    const hostPort = parseHostPort(resolverAddress);
    if (isIP(resolverAddress) === 0 && (!hostPort || isIP(hostPort.host) === 0)) {
      throw new RangeError(
        `DNS resolver address ${JSON.stringify(resolverAddress)} must be an IP address, ip:port or [IPv6]:port`,
      );
    }
    resolver.setServers([resolverAddress]);
  }
  return resolver;
}

type SeedName = { srv: string } | { host: string; port: number } | { problem: string };

function parseDnsSeed(text: string, defaultPort: number): SeedName {
  // A trailing dot only marks the name as fully qualified, which resolve*() assumes anyway.
  const seed = text.trim().replace(/\.(?=(:\d+)?$)/, '');
  if (seed.startsWith('_')) {
    return SRV_NAME.test(seed) && seed.length <= 253
      ? { srv: seed }
      : { problem: `${JSON.stringify(text)} is not an SRV name like _grapevine._tcp.example.org` };
  }
  const hostPort = parseHostPort(seed) ?? parseHostPort(`${seed}:${defaultPort}`);
  if (!hostPort) return { problem: `${JSON.stringify(text)} is not a DNS name, or name:port` };
  if (isIP(hostPort.host) !== 0) {
    return { problem: `${JSON.stringify(text)} is an IP address, not a name: list it as a static seed` };
  }
  return hostPort;
}

const SRV_NAME = /^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})+$/;

async function resolveSeed(resolver: Resolver, seed: string, defaultPort: number): Promise<DnsSeedResult> {
  const name = parseDnsSeed(seed, defaultPort);
  if ('problem' in name) return { addresses: [], serverNames: {}, problems: [`DNS seed ${name.problem}`] };
  try {
    if ('srv' in name) return await resolveSrv(resolver, name.srv);
    const { addresses, failure } = await resolveHost(resolver, name.host, name.port);
    return {
      addresses,
      serverNames: namedAs(addresses, name.host),
      problems: failure ? [`DNS seed ${name.host}: ${failure}`] : [],
    };
  } catch (error) {
    return { addresses: [], serverNames: {}, problems: [`DNS seed ${seed}: ${errorCode(error)}`] };
  }
}

function namedAs(addresses: readonly string[], name: string): Record<string, string> {
  return Object.fromEntries(addresses.map((address) => [address, name.replace(/\.$/, '')]));
}

async function resolveSrv(resolver: Resolver, name: string): Promise<DnsSeedResult> {
  const records = await resolver.resolveSrv(name);
  // Deterministic rather than RFC 2782's weighted draw: the caller tries every address anyway,
  // and a repeatable order is easier to read in a log. "." means "no service here".
  const targets = records
    .filter((record) => record.name !== '' && record.name !== '.')
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight);
  if (targets.length === 0) return { addresses: [], serverNames: {}, problems: [`DNS seed ${name}: no SRV targets`] };
  const resolved = await Promise.all(targets.map((target) => resolveHost(resolver, target.name, target.port)));
  const problems: string[] = [];
  resolved.forEach(({ failure }, i) => {
    if (failure) problems.push(`DNS seed ${name}: SRV target ${targets[i].name}: ${failure}`);
  });
  return {
    addresses: resolved.flatMap((result) => result.addresses),
    serverNames: Object.assign(
      {},
      ...resolved.map((result, i) => namedAs(result.addresses, targets[i].name)).reverse(),
    ),
    problems,
  };
}

/** Answers that only mean "this family has no address"; harmless when the other family has one. */
const NO_RECORDS = new Set(['ENODATA', 'ENOTFOUND']);

/**
 * A and AAAA addresses of `host`, IPv4 first. `failure` is set when no address came back, or when
 * a lookup failed for a reason other than "no such records" (a timeout, a refusal).
 */
async function resolveHost(
  resolver: Resolver,
  host: string,
  port: number,
): Promise<{ addresses: string[]; failure?: string }> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses = [
    ...(v4.status === 'fulfilled' ? v4.value.map((ip) => `${ip}:${port}`) : []),
    ...(v6.status === 'fulfilled' ? v6.value.map((ip) => `[${ip}]:${port}`) : []),
  ];
  const codeA = v4.status === 'rejected' ? errorCode(v4.reason) : undefined;
  const codeAAAA = v6.status === 'rejected' ? errorCode(v6.reason) : undefined;
  if (addresses.length === 0) {
    return { addresses, failure: codeA === codeAAAA ? codeA : `A ${codeA ?? 'none'}, AAAA ${codeAAAA ?? 'none'}` };
  }
  const failures = [
    codeA && !NO_RECORDS.has(codeA) ? `A ${codeA}` : undefined,
    codeAAAA && !NO_RECORDS.has(codeAAAA) ? `AAAA ${codeAAAA}` : undefined,
  ].filter((failure) => failure !== undefined);
  return { addresses, failure: failures.length > 0 ? failures.join(', ') : undefined };
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : String((error as Error | undefined)?.message ?? error);
}
