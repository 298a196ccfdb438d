/**
 * What the directory's Redis must hold whatever requests came before: read over Redis itself (not
 * through the store), in one Lua script so that a sweep or a write cannot land between two reads.
 * The layout is the one of services/directory/store/redis-keys.ts and redis-scripts.ts:
 *
 * - every peer value decodes, carries a record that verifies and agrees with its header and key;
 * - every peer has its lease key, its id in the ids index (score 0), its deadline in the deadline
 *   index (the header's), and its name claim when it has a name; and the other way round: every
 *   lease, name claim, index and deadline entry belongs to a live peer value that agrees with it;
 * - no seq floor beside a live peer, and every floor expires;
 * - the revision counter is the log's last entry, at or above every peer's entry revision, and the
 *   change event at a peer's revision (unless trimmed) is the PUT of the very record held;
 * - every network with keys is in the sweeper's set, and no key of any other shape exists.
 *
 * `storeProblems` lists what breaks these rules (empty when all hold); `fingerprint` gives a
 * canonical text of the keys, to show that a refused request changed nothing.
 */
import { Redis } from 'ioredis';
import { openRecord } from '../../services/common/records';
import { DecodedPeer, decodePeer } from '../../services/directory/store/redis-codec';
import { NETWORKS_KEY } from '../../services/directory/store/redis-keys';

/** Reads every gv:* key with its type, value and expiry; for each peer, the log entry at its revision. */
const SNAPSHOT = `
local out = {}
for _, key in ipairs(redis.call('KEYS', 'gv:*')) do
  local kind = redis.call('TYPE', key)['ok']
  local item = { key, kind, redis.call('PTTL', key) }
  if kind == 'string' then
    item[4] = redis.call('GET', key)
    local rev = string.match(item[4], '^%d+|%d+|%d+|(%d+)|')
    local log = string.match(key, '^(gv:{[^}]*}:)peer:')
    if rev and log then
      local entry = redis.call('XRANGE', log .. 'log', rev .. '-0', rev .. '-0')[1]
      if entry then item[5] = entry[2] end
    end
  elseif kind == 'zset' then
    item[4] = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif kind == 'set' then
    item[4] = redis.call('SMEMBERS', key)
  elseif kind == 'stream' then
    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
    item[4] = { redis.call('XLEN', key), first and first[1] or '', last and last[1] or '' }
  else
    item[4] = ''
  end
  out[#out + 1] = item
end
return out
`;

export interface InvariantClient {
  readonly redis: Redis;
  close(): void;
}

/** A plain client of its own, so the checks never share the directory's connection. */
export function openInvariantClient(url: string): InvariantClient {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  return { redis, close: () => redis.disconnect() };
}

export interface StoredKey {
  readonly key: string;
  readonly type: string;
  /** -1 without an expiry. */
  readonly pttl: number;
  readonly value?: Buffer;
  readonly zset?: ReadonlyMap<string, number>;
  readonly members?: readonly string[];
  readonly stream?: { readonly length: number; readonly first: string; readonly last: string };
  /** For a peer value: the fields of the change event at its entry revision, if the log still has it. */
  readonly event?: ReadonlyMap<string, Buffer>;
}

export type StoreSnapshot = ReadonlyMap<string, StoredKey>;

export async function readStore(client: InvariantClient): Promise<StoreSnapshot> {
  const reply = (await client.redis.callBuffer('EVAL', SNAPSHOT, 0)) as unknown[][];
  const keys = new Map<string, StoredKey>();
  for (const item of reply) {
    const key = (item[0] as Buffer).toString();
    const type = (item[1] as Buffer).toString();
    const pttl = Number(item[2]);
    const raw = item[3];
    const stored: { -readonly [K in keyof StoredKey]: StoredKey[K] } = { key, type, pttl };
    if (type === 'string') {
      stored.value = raw as Buffer;
      if (item[4]) stored.event = pairs(item[4] as Buffer[]);
    } else if (type === 'zset') {
      const flat = raw as Buffer[];
      const zset = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) zset.set(flat[i].toString(), Number(flat[i + 1].toString()));
      stored.zset = zset;
    } else if (type === 'set') {
      stored.members = (raw as Buffer[]).map(String).sort();
    } else if (type === 'stream') {
      const [length, first, last] = raw as [number, Buffer, Buffer];
      stored.stream = { length: Number(length), first: first.toString(), last: last.toString() };
    }
    keys.set(key, stored);
  }
  return keys;
}

function pairs(flat: Buffer[]): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i].toString(), flat[i + 1]);
  return map;
}

export async function checkStoreInvariants(client: InvariantClient): Promise<string[]> {
  return storeProblems(await readStore(client));
}

/**
 * A canonical text of every key (type, value, members, stream ends), without expiry times and
 * without the keys in `exclude`: two snapshots with the same fingerprint hold the same data. With
 * `ignoreDeadlines`, lease deadlines (a peer value's first field, the deadline index's scores) are
 * left out, so a renewal elsewhere does not count as a change.
 */
export function fingerprint(
  snapshot: StoreSnapshot,
  {
    exclude = [NETWORKS_KEY],
    ignoreDeadlines = false,
  }: { exclude?: readonly string[]; ignoreDeadlines?: boolean } = {},
): string {
  const lines: string[] = [];
  for (const key of [...snapshot.keys()].sort()) {
    if (exclude.includes(key)) continue;
    const k = snapshot.get(key)!;
    const peerValue = ignoreDeadlines && /^gv:\{[^}]*\}:peer:/.test(key);
    const value = peerValue ? k.value?.subarray(DEADLINE_DIGITS) : k.value;
    const zset =
      k.zset && (ignoreDeadlines && key.endsWith(':deadlines') ? [...k.zset.keys()].sort() : [...k.zset].sort());
    const body =
      value?.toString('base64') ??
      (zset && JSON.stringify(zset)) ??
      (k.members && JSON.stringify(k.members)) ??
      (k.stream && JSON.stringify(k.stream)) ??
      '';
    lines.push(`${key} ${k.type} ${body}`);
  }
  return lines.join('\n');
}

/** A peer value starts with its deadline at a fixed width (redis-scripts.ts encode_peer). */
const DEADLINE_DIGITS = 15;

const LEASE_SECRET = /^[a-z2-7]{24}$/;
const KEY = /^gv:\{([^}]*)\}:(rev|base|log|ids|deadlines|peer:|name:|lease:|floor:)(.*)$/;

interface NetworkKeys {
  rev?: StoredKey;
  base?: StoredKey;
  log?: StoredKey;
  ids?: StoredKey;
  deadlines?: StoredKey;
  readonly peers: Map<string, StoredKey>;
  readonly names: Map<string, StoredKey>;
  readonly leases: Map<string, StoredKey>;
  readonly floors: Map<string, StoredKey>;
}

/** Every broken rule, as a sentence naming the key; empty when the store is consistent. */
export function storeProblems(snapshot: StoreSnapshot): string[] {
  const problems: string[] = [];
  const networks = new Map<string, NetworkKeys>();
  for (const [key, stored] of snapshot) {
    if (key === NETWORKS_KEY) {
      if (stored.type !== 'set') problems.push(`${key} is a ${stored.type}, not a set`);
      continue;
    }
    const match = KEY.exec(key);
    if (!match) {
      problems.push(`unexpected key ${key}`);
      continue;
    }
    const [, network, kind, rest] = match;
    let n = networks.get(network);
    if (!n) {
      n = { peers: new Map(), names: new Map(), leases: new Map(), floors: new Map() };
      networks.set(network, n);
    }
    const single = kind === 'rev' || kind === 'base' || kind === 'log' || kind === 'ids' || kind === 'deadlines';
    if (single && rest !== '') {
      problems.push(`unexpected key ${key}`);
      continue;
    }
    switch (kind) {
      case 'rev':
      case 'base':
      case 'log':
      case 'ids':
      case 'deadlines':
        n[kind] = stored;
        break;
      case 'peer:':
        n.peers.set(rest, stored);
        break;
      case 'name:':
        n.names.set(rest, stored);
        break;
      case 'lease:':
        n.leases.set(rest, stored);
        break;
      case 'floor:':
        n.floors.set(rest, stored);
        break;
    }
  }
  const registered = new Set(snapshot.get(NETWORKS_KEY)?.members ?? []);
  for (const [network, keys] of networks) {
    if (!registered.has(network)) problems.push(`network ${network} has keys but is not in ${NETWORKS_KEY}`);
    problems.push(...networkProblems(network, keys));
  }
  return problems;
}

function networkProblems(network: string, n: NetworkKeys): string[] {
  const problems: string[] = [];
  const where = (suffix: string) => `gv:{${network}}:${suffix}`;
  const expectType = (stored: StoredKey | undefined, type: string) => {
    if (stored && stored.type !== type) problems.push(`${stored.key} is a ${stored.type}, not a ${type}`);
    return stored?.type === type ? stored : undefined;
  };
  const rev = expectType(n.rev, 'string');
  const base = expectType(n.base, 'string');
  const log = expectType(n.log, 'stream');
  const ids = expectType(n.ids, 'zset')?.zset ?? new Map<string, number>();
  const deadlines = expectType(n.deadlines, 'zset')?.zset ?? new Map<string, number>();
  for (const group of [n.peers, n.names, n.leases, n.floors]) {
    for (const stored of group.values()) expectType(stored, 'string');
  }
  for (const stored of [rev, base, log, n.ids, n.deadlines]) {
    if (stored && stored.pttl !== -1) problems.push(`${stored.key} has an expiry (${stored.pttl} ms)`);
  }

  // The revision counter and the change log move together.
  const revision = rev ? Number(rev.value!.toString()) : undefined;
  if (rev && !/^\d+$/.test(rev.value!.toString())) problems.push(`${rev.key} holds ${rev.value!.toString()}`);
  if (log?.stream && log.stream.length > 0) {
    if (revision === undefined) problems.push(`${where('log')} has events but ${where('rev')} is missing`);
    else if (log.stream.last !== `${revision}-0`) {
      problems.push(`${where('log')} ends at ${log.stream.last} but ${where('rev')} is ${revision}`);
    }
  }
  if (base && revision !== undefined && Number(base.value!.toString()) > revision) {
    problems.push(`${where('base')} ${base.value!.toString()} is above the revision ${revision}`);
  }
  const firstRetained = log?.stream?.first ? Number(log.stream.first.split('-')[0]) : Infinity;

  // Each peer value, and what must point at it.
  const live = new Map<string, DecodedPeer>();
  for (const [id, stored] of n.peers) {
    if (stored.type !== 'string') continue;
    if (stored.pttl !== -1) problems.push(`${stored.key} has an expiry (${stored.pttl} ms): leases end by the sweep`);
    let peer: DecodedPeer;
    try {
      peer = decodePeer(stored.value!);
    } catch (error) {
      problems.push(`${stored.key} does not decode: ${(error as Error).message}`);
      continue;
    }
    live.set(id, peer);
    const record = peer.record;
    try {
      openRecord({ record: peer.recordBytes, signature: peer.signature });
    } catch (error) {
      problems.push(`${stored.key} holds a record that does not open: ${(error as Error).message}`);
    }
    if (record.peerId !== id) problems.push(`${stored.key} holds the record of ${record.peerId}`);
    if (record.network !== network) problems.push(`${stored.key} holds a record of network ${record.network}`);
    if (record.withdrawn) problems.push(`${stored.key} holds a withdrawn record`);
    if (record.seq !== peer.seq) problems.push(`${stored.key} header seq ${peer.seq} but record seq ${record.seq}`);
    if (record.name !== peer.name)
      problems.push(`${stored.key} header name "${peer.name}" but record name "${record.name}"`);
    if (!(peer.ttlMs > 0)) problems.push(`${stored.key} has TTL ${peer.ttlMs}`);
    if (!LEASE_SECRET.test(peer.leaseSecret)) problems.push(`${stored.key} has lease secret "${peer.leaseSecret}"`);
    if (n.leases.get(peer.leaseSecret)?.value?.toString() !== id) {
      problems.push(`${stored.key} has no lease key ${where(`lease:${peer.leaseSecret}`)} pointing at it`);
    }
    if (peer.name !== '' && n.names.get(peer.name)?.value?.toString() !== id) {
      problems.push(`${stored.key} has no name claim ${where(`name:${peer.name}`)} pointing at it`);
    }
    if (ids.get(id) !== 0) problems.push(`${stored.key} is not in ${where('ids')} with score 0`);
    if (deadlines.get(id) !== peer.deadlineMs) {
      problems.push(
        `${stored.key} has deadline ${peer.deadlineMs} but ${where('deadlines')} says ${deadlines.get(id) ?? 'nothing'}`,
      );
    }
    if (n.floors.has(id)) problems.push(`${stored.key} is live beside a seq floor ${where(`floor:${id}`)}`);
    if (revision === undefined || peer.revision > revision) {
      problems.push(`${stored.key} has entry revision ${peer.revision}, above the network's ${revision ?? 'none'}`);
    }
    if (stored.event) {
      const kind = stored.event.get('k')?.toString();
      if (kind !== 'p') problems.push(`the event at ${stored.key}'s revision ${peer.revision} is "${kind}", not a put`);
      else if (!stored.event.get('r')?.equals(peer.recordBytes) || !stored.event.get('s')?.equals(peer.signature)) {
        problems.push(`the put at ${stored.key}'s revision ${peer.revision} carries another record`);
      }
    } else if (peer.revision >= firstRetained) {
      problems.push(`${stored.key}'s put event at revision ${peer.revision} is missing from the log`);
    }
  }

  // Nothing points at a peer that is not there, or that does not agree.
  for (const [secret, stored] of n.leases) {
    const holder = stored.value?.toString() ?? '';
    if (live.get(holder)?.leaseSecret !== secret) {
      problems.push(
        `orphaned lease ${stored.key} -> ${holder}, which ${live.has(holder) ? 'holds another lease' : 'is not live'}`,
      );
    }
    if (stored.pttl !== -1) problems.push(`${stored.key} has an expiry (${stored.pttl} ms)`);
  }
  for (const [name, stored] of n.names) {
    const holder = stored.value?.toString() ?? '';
    if (name === '') problems.push(`${stored.key}: an empty name was claimed`);
    if (live.get(holder)?.name !== name) {
      problems.push(
        `orphaned name ${stored.key} -> ${holder}, which ${live.has(holder) ? 'has another name' : 'is not live'}`,
      );
    }
  }
  for (const id of ids.keys()) if (!live.has(id)) problems.push(`orphaned index entry ${where('ids')} ${id}`);
  for (const id of deadlines.keys()) if (!live.has(id)) problems.push(`orphaned deadline ${where('deadlines')} ${id}`);
  for (const [id, stored] of n.floors) {
    if (!/^\d+:\d+$/.test(stored.value?.toString() ?? '')) problems.push(`${stored.key} holds "${stored.value}"`);
    if (stored.pttl < 0) problems.push(`${stored.key} never expires`);
    if (!/^b[a-z2-7]{52}$/.test(id)) problems.push(`${stored.key} is a floor for "${id}", not a peer id`);
  }

  // Counts: one lease, one index entry and one deadline per live peer; one claim per named peer.
  const named = [...live.values()].filter((peer) => peer.name !== '').length;
  const counts = { peers: live.size, leases: n.leases.size, ids: ids.size, deadlines: deadlines.size };
  if (new Set(Object.values(counts)).size !== 1)
    problems.push(`counts differ in ${network}: ${JSON.stringify(counts)}`);
  if (n.names.size !== named) problems.push(`${n.names.size} name claims but ${named} named peers in ${network}`);
  return problems;
}
