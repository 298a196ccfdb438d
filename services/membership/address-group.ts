/**
 * Address groups for view diversity: a view holds at most a few peers of one group, so a single
 * source (one subnet, one host name) cannot fill it with fakes, in the spirit of Bitcoin Core's
 * address buckets. Pure string parsing: no resolver, no node:net.
 *
 *   IPv4 "a.b.c.d:port"            → its /24, "v4:a.b.c"
 *   IPv6 "[x:x:x:x:x:x:x:x]:port"  → its /48, "v6:x:x:x" (IPv4-mapped addresses use their /24)
 *   host name "name:port"          → the name itself, lower-cased: a group of its own
 */

/** The host part of "host:port" or "[v6]:port"; undefined when malformed. */
export function hostOf(address: string): string | undefined {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    if (end < 0 || address[end + 1] !== ':') return undefined;
    return address.slice(1, end);
  }
  const colon = address.lastIndexOf(':');
  if (colon <= 0 || address.indexOf(':') !== colon) return undefined;
  return address.slice(0, colon);
}

// Groups are asked for every record that arrives, and the same addresses keep coming back.
const groupCache = new Map<string, string>();
const GROUP_CACHE_SIZE = 65_536;

/** The diversity group of an address; a malformed address is a group of its own. */
export function addressGroup(address: string): string {
  let group = groupCache.get(address);
  if (group === undefined) {
    group = computeGroup(address);
    if (groupCache.size >= GROUP_CACHE_SIZE) groupCache.clear();
    groupCache.set(address, group);
  }
  return group;
}

// Each distinct group gets a small number, so views compare numbers, not strings; addresses map
// straight to their number (one lookup for an address seen before).
const groupIds = new Map<string, number>();
const addressGroupIds = new Map<string, number>();

/** A small number standing for addressGroup(address): equal groups, equal numbers. */
export function addressGroupId(address: string): number {
  let id = addressGroupIds.get(address);
  if (id !== undefined) return id;
  const group = addressGroup(address);
  id = groupIds.get(group);
  if (id === undefined) {
    id = groupIds.size;
    groupIds.set(group, id);
  }
  if (addressGroupIds.size >= GROUP_CACHE_SIZE) addressGroupIds.clear();
  addressGroupIds.set(address, id);
  return id;
}

function computeGroup(address: string): string {
  const host = hostOf(address);
  if (host === undefined) return `bad:${address}`;
  const v4 = ipv4Octets(host);
  if (v4) return `v4:${v4[0]}.${v4[1]}.${v4[2]}`;
  const v6 = ipv6Hextets(host);
  if (v6) {
    // ::ffff:a.b.c.d is an IPv4 peer and must share the group of a.b.c.d.
    if (v6.slice(0, 5).every((h) => h === 0) && v6[5] === 0xffff) {
      return `v4:${v6[6] >> 8}.${v6[6] & 0xff}.${v6[7] >> 8}`;
    }
    return `v6:${v6[0].toString(16)}:${v6[1].toString(16)}:${v6[2].toString(16)}`;
  }
  return `name:${host.toLowerCase()}`;
}

export function ipv4Octets(host: string): number[] | undefined {
  const parts = host.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255 || (part.length > 1 && part.startsWith('0'))) return undefined;
    octets.push(n);
  }
  return octets;
}

/** The eight 16-bit groups of an IPv6 address (zone ids are not accepted). */
export function ipv6Hextets(host: string): number[] | undefined {
  if (!host.includes(':') || host.includes('%')) return undefined;
  let text = host;
  let tail: number[] = [];
  // An embedded IPv4 address stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const o = ipv4Octets(last);
    if (!o) return undefined;
    tail = [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseHextets(halves[0]);
  if (!head) return undefined;
  const want = 8 - tail.length;
  if (halves.length === 1) return head.length === want ? [...head, ...tail] : undefined;
  const rest = parseHextets(halves[1]);
  if (!rest || head.length + rest.length > want - 1) return undefined;
  const zeros = new Array<number>(want - head.length - rest.length).fill(0);
  return [...head, ...zeros, ...rest, ...tail];
}

function parseHextets(text: string): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  for (const group of text.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    out.push(parseInt(group, 16));
  }
  return out;
}
