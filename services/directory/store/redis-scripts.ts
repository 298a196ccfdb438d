/**
 * The Lua scripts behind every multi-key write and every read that must be atomic. Each write
 * script is one EVALSHA (ioredis defineCommand falls back to EVAL when Redis lacks the script), so
 * another client sees all of a change or none of it.
 *
 * Redis does not roll a script back when a command inside it fails, so every write script:
 *  1. does all of its checks first, reading only (a wrong key type fails there, before any write);
 *  2. appends to the change log next, as its first write: XADD is the one write that can still be
 *     refused (an entry id not above the stream's last one) and then nothing has been written;
 *  3. then makes writes that cannot fail (SET, DEL, ZADD/ZREM on keys whose type was checked).
 *
 * Keys the script knows up front come in KEYS; keys it only learns while running (the holder of a
 * name, the peers a sweep ends) are built from the network's key prefix, which shares their hash
 * tag, so every key a script touches lies in the slot of its KEYS.
 *
 * Scripts take the store's clock as an argument (ARGV "now", ms) and never read Redis's TIME, so
 * tests can move the clock, and every replica judges deadlines by its own clock.
 */
import { createHash } from 'node:crypto';
import type { DirectoryRedis } from './redis-connection';

/** Shared by all scripts: the peer value format, revisions, the change log and removal. */
const PRELUDE = `
local function check_type(key, want)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'none' and kind ~= want then
    return 'GVCORRUPT key ' .. key .. ' holds a ' .. kind .. ', not a ' .. want .. '; the directory will not write around it'
  end
  return nil
end

-- Peer value: "<deadline, 15 digits>|<ttl>|<seq>|<revision>|<lease secret>|<signature length>|<name>\\n"
-- then the record bytes, then the signature bytes. The deadline comes first at a fixed width so
-- Renew rewrites it in place with SETRANGE. Names are RFC 1123 labels and secrets base32, so
-- neither holds "|" or a newline.
local function encode_peer(deadline, ttl, seq, rev, secret, name, record, signature)
  return string.format('%015d|%d|%d|%d|%s|%d|%s\\n', deadline, ttl, seq, rev, secret, #signature, name)
    .. record .. signature
end

local function decode_peer(id, value)
  local newline = string.find(value, '\\n', 1, true)
  local deadline, ttl, seq, rev, secret, signature_length, name =
    string.match(string.sub(value, 1, newline - 1), '^(%d+)|(%d+)|(%d+)|(%d+)|([^|]*)|(%d+)|(.*)$')
  return {
    id = id, value = value, deadline = tonumber(deadline), ttl = tonumber(ttl), seq = tonumber(seq),
    rev = tonumber(rev), secret = secret, name = name, body_at = newline + 1,
    signature_length = tonumber(signature_length),
  }
end

local function peer_record(peer)
  return string.sub(peer.value, peer.body_at, #peer.value - peer.signature_length)
end

local function peer_signature(peer)
  return string.sub(peer.value, #peer.value - peer.signature_length + 1)
end

local function live_floor(key, now)
  local value = redis.call('GET', key)
  if not value then return nil end
  local seq, until_ms = string.match(value, '^(%d+):(%d+)$')
  if tonumber(until_ms) <= now then return nil end
  return tonumber(seq)
end

-- The next revision of the network, not yet written. When the counter is absent (a new network,
-- or a store that lost its data) it starts from now * 1000: above every revision the network had
-- before (as long as it averaged under 1000 changes per ms since it last started), so revisions
-- never go back, even after FLUSHALL. Revisions stay below 2^53 until the year 2255.
local function next_revision(K, now)
  local current = redis.call('GET', K.rev)
  if current then return tonumber(current) + 1, false end
  return now * 1000 + 1, true
end

-- Appends one change event; the first write of every change (see the file comment).
local function append_event(K, A, kind, record, signature)
  local rev, fresh = next_revision(K, A.now)
  redis.call('XADD', K.log, 'MAXLEN', '~', A.retention, string.format('%d-0', rev),
    'k', kind, 'r', record, 's', signature)
  redis.call('SET', K.rev, string.format('%d', rev))
  -- base: the revision before the first this counter handed out. A watcher asking for anything
  -- below it asks for history lost with the data.
  if fresh then redis.call('SET', K.base, string.format('%d', rev - 1)) end
  return rev
end

-- Removes a peer and everything that points at it, leaves a seq floor, logs the delete.
local function remove_peer(K, A, peer, kind, floor_seq)
  local rev = append_event(K, A, kind, peer_record(peer), peer_signature(peer))
  redis.call('DEL', K.prefix .. 'peer:' .. peer.id, K.prefix .. 'lease:' .. peer.secret)
  if peer.name ~= '' then
    local name_key = K.prefix .. 'name:' .. peer.name
    if redis.call('GET', name_key) == peer.id then redis.call('DEL', name_key) end
  end
  redis.call('ZREM', K.ids, peer.id)
  redis.call('ZREM', K.deadlines, peer.id)
  redis.call('SET', K.prefix .. 'floor:' .. peer.id,
    string.format('%d:%d', floor_seq, A.now + A.floor_retention), 'PX', A.floor_retention)
  return rev
end

-- Whether peer_id may take name: returns the id of another live peer holding it (the claim is
-- refused), or nil and a holder whose lease has ended but was not swept yet (the caller expires it
-- before the claim, so the name goes to the first live peer whatever the sweeper's timing).
local function name_claim(K, A, name_key, peer_id)
  local holder_id = redis.call('GET', name_key)
  if not holder_id or holder_id == peer_id then return nil, nil end
  local holder_value = redis.call('GET', K.prefix .. 'peer:' .. holder_id)
  if not holder_value then return nil, nil end
  local holder = decode_peer(holder_id, holder_value)
  if holder.deadline > A.now then return holder_id, nil end
  return nil, holder
end

-- Frees the old name of a peer whose new record names another one (or none).
local function release_old_name(K, current, name)
  if current.name ~= '' and current.name ~= name then
    local old_name_key = K.prefix .. 'name:' .. current.name
    if redis.call('GET', old_name_key) == current.id then redis.call('DEL', old_name_key) end
  end
end

local function check_network_types(K)
  return check_type(K.log, 'stream') or check_type(K.ids, 'zset') or check_type(K.deadlines, 'zset')
end
`;

/**
 * KEYS: rev, base, log, ids, deadlines, peer, floor, name (the prefix + "name:" when the record
 * has no name), lease.
 * ARGV: prefix, peer id, seq, name, record, signature, ttl ms, now ms, lease secret, log retention,
 * floor retention ms.
 * Returns {'ok', revision} | {'same', entry revision, lease secret} | {'stale', held seq} |
 * {'floor', floor seq} | {'taken', holder id}.
 * 'same': the live peer already holds these very record bytes and signature; the lease it holds
 * is pushed to now + ttl (the new TTL), and nothing is logged.
 */
const REGISTER = `${PRELUDE}
local K = { rev = KEYS[1], base = KEYS[2], log = KEYS[3], ids = KEYS[4], deadlines = KEYS[5], prefix = ARGV[1] }
local A = { now = tonumber(ARGV[8]), retention = ARGV[10], floor_retention = tonumber(ARGV[11]) }
local peer_key, floor_key, name_key, lease_key = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local peer_id, seq, name, ttl = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[7])

local corrupt = check_network_types(K)
if corrupt then return redis.error_reply(corrupt) end
local current_value = redis.call('GET', peer_key)
local current = current_value and decode_peer(peer_id, current_value)
if current and current.deadline > A.now and current.seq == seq
    and peer_record(current) == ARGV[5] and peer_signature(current) == ARGV[6] then
  local deadline = A.now + ttl
  redis.call('SET', peer_key,
    encode_peer(deadline, ttl, current.seq, current.rev, current.secret, current.name, ARGV[5], ARGV[6]))
  redis.call('ZADD', K.deadlines, deadline, peer_id)
  return { 'same', current.rev, current.secret }
end
if current and seq <= current.seq then return { 'stale', current.seq } end
local floor = live_floor(floor_key, A.now)
if floor and seq <= floor then return { 'floor', floor } end
local expired_holder = nil
if name ~= '' then
  local taken_by
  taken_by, expired_holder = name_claim(K, A, name_key, peer_id)
  if taken_by then return { 'taken', taken_by } end
end

if expired_holder then remove_peer(K, A, expired_holder, 'e', expired_holder.seq) end
local rev = append_event(K, A, 'p', ARGV[5], ARGV[6])
if current then
  redis.call('DEL', K.prefix .. 'lease:' .. current.secret)
  release_old_name(K, current, name)
end
local deadline = A.now + ttl
redis.call('SET', peer_key, encode_peer(deadline, ttl, seq, rev, ARGV[9], name, ARGV[5], ARGV[6]))
if name ~= '' then redis.call('SET', name_key, peer_id) end
redis.call('SET', lease_key, peer_id)
redis.call('ZADD', K.ids, 0, peer_id)
redis.call('ZADD', K.deadlines, deadline, peer_id)
redis.call('DEL', floor_key)
return { 'ok', rev }
`;

/**
 * KEYS: rev, base, log, ids, deadlines, peer, name (the prefix + "name:" when the record has no
 * name).
 * ARGV: prefix, peer id, seq, name, record, signature, now ms, log retention, floor retention ms.
 * Replaces a live peer's record, keeping its lease (secret, TTL and deadline).
 * Returns {'ok', revision} | {'missing'} (not live) | {'stale', held seq} | {'taken', holder id}.
 */
const UPDATE = `${PRELUDE}
local K = { rev = KEYS[1], base = KEYS[2], log = KEYS[3], ids = KEYS[4], deadlines = KEYS[5], prefix = ARGV[1] }
local A = { now = tonumber(ARGV[7]), retention = ARGV[8], floor_retention = tonumber(ARGV[9]) }
local peer_key, name_key = KEYS[6], KEYS[7]
local peer_id, seq, name = ARGV[2], tonumber(ARGV[3]), ARGV[4]

local corrupt = check_network_types(K)
if corrupt then return redis.error_reply(corrupt) end
local current_value = redis.call('GET', peer_key)
if not current_value then return { 'missing' } end
local current = decode_peer(peer_id, current_value)
if current.deadline <= A.now then return { 'missing' } end
if seq <= current.seq then return { 'stale', current.seq } end
local expired_holder = nil
if name ~= '' then
  local taken_by
  taken_by, expired_holder = name_claim(K, A, name_key, peer_id)
  if taken_by then return { 'taken', taken_by } end
end

if expired_holder then remove_peer(K, A, expired_holder, 'e', expired_holder.seq) end
local rev = append_event(K, A, 'p', ARGV[5], ARGV[6])
release_old_name(K, current, name)
redis.call('SET', peer_key,
  encode_peer(current.deadline, current.ttl, seq, rev, current.secret, name, ARGV[5], ARGV[6]))
if name ~= '' then redis.call('SET', name_key, peer_id) end
return { 'ok', rev }
`;

/**
 * KEYS: lease, deadlines. ARGV: prefix, lease secret, now ms.
 * Returns the TTL in ms, or nil when the lease is unknown or its deadline has passed.
 */
const RENEW = `${PRELUDE}
local now = tonumber(ARGV[3])
local peer_id = redis.call('GET', KEYS[1])
if not peer_id then return nil end
local peer_key = ARGV[1] .. 'peer:' .. peer_id
local value = redis.call('GET', peer_key)
if not value then return nil end
local peer = decode_peer(peer_id, value)
if peer.secret ~= ARGV[2] or peer.deadline <= now then return nil end
local deadline = now + peer.ttl
redis.call('SETRANGE', peer_key, 0, string.format('%015d', deadline))
redis.call('ZADD', KEYS[2], deadline, peer_id)
return peer.ttl
`;

/**
 * KEYS: rev, base, log, ids, deadlines, peer.
 * ARGV: prefix, peer id, seq of the withdrawn record, now ms, log retention, floor retention ms.
 * Returns {'ok', revision} | {'missing'} | {'stale', held seq}.
 */
const DEREGISTER = `${PRELUDE}
local K = { rev = KEYS[1], base = KEYS[2], log = KEYS[3], ids = KEYS[4], deadlines = KEYS[5], prefix = ARGV[1] }
local A = { now = tonumber(ARGV[4]), retention = ARGV[5], floor_retention = tonumber(ARGV[6]) }
local seq = tonumber(ARGV[3])
local corrupt = check_network_types(K)
if corrupt then return redis.error_reply(corrupt) end
local value = redis.call('GET', KEYS[6])
if not value then return { 'missing' } end
local peer = decode_peer(ARGV[2], value)
if seq <= peer.seq then return { 'stale', peer.seq } end
return { 'ok', remove_peer(K, A, peer, 'd', seq) }
`;

/**
 * KEYS: rev, base, log, ids, deadlines, peer.
 * ARGV: prefix, peer id, seq found dead, now ms, log retention, floor retention ms.
 * Removes the peer only while it is live and holds exactly that seq, leaving a floor at it.
 * Returns {'ok', revision} | {'missing'} (not live) | {'seq', held seq}.
 */
const EVICT = `${PRELUDE}
local K = { rev = KEYS[1], base = KEYS[2], log = KEYS[3], ids = KEYS[4], deadlines = KEYS[5], prefix = ARGV[1] }
local A = { now = tonumber(ARGV[4]), retention = ARGV[5], floor_retention = tonumber(ARGV[6]) }
local seq = tonumber(ARGV[3])
local corrupt = check_network_types(K)
if corrupt then return redis.error_reply(corrupt) end
local value = redis.call('GET', KEYS[6])
if not value then return { 'missing' } end
local peer = decode_peer(ARGV[2], value)
if peer.deadline <= A.now then return { 'missing' } end
if peer.seq ~= seq then return { 'seq', peer.seq } end
return { 'ok', remove_peer(K, A, peer, 'v', peer.seq) }
`;

/**
 * KEYS: rev, base, log, ids, deadlines. ARGV: prefix, now ms, batch size, log retention, floor
 * retention ms.
 * Ends up to one batch of leases whose deadline is at or before now, in (deadline, peer id)
 * order. Returns {leases ended, deadlines looked at}; a full batch means there may be more.
 * Running it twice, or from several replicas at once, ends each lease once: a peer already
 * removed is simply no longer in the deadline index.
 */
const SWEEP = `${PRELUDE}
local K = { rev = KEYS[1], base = KEYS[2], log = KEYS[3], ids = KEYS[4], deadlines = KEYS[5], prefix = ARGV[1] }
local A = { now = tonumber(ARGV[2]), retention = ARGV[4], floor_retention = tonumber(ARGV[5]) }
local corrupt = check_network_types(K)
if corrupt then return redis.error_reply(corrupt) end
local due = redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', A.now, 'LIMIT', 0, tonumber(ARGV[3]))
local ended = 0
for _, peer_id in ipairs(due) do
  local value = redis.call('GET', K.prefix .. 'peer:' .. peer_id)
  if not value then
    -- An index entry without its peer; cannot happen through these scripts, but heal it.
    redis.call('ZREM', K.deadlines, peer_id)
    redis.call('ZREM', K.ids, peer_id)
  else
    local peer = decode_peer(peer_id, value)
    if peer.deadline <= A.now then
      remove_peer(K, A, peer, 'e', peer.seq)
      ended = ended + 1
    else
      redis.call('ZADD', K.deadlines, peer.deadline, peer_id)
    end
  end
end
return { ended, #due }
`;

/**
 * KEYS: rev, ids. ARGV: prefix, after ('' for the first page), limit.
 * Returns {revision, {id, peer value, id, peer value, ...}, 1 when more peers follow else 0}.
 */
const LIST = `
local limit = tonumber(ARGV[3])
local start = '-'
if ARGV[2] ~= '' then start = '(' .. ARGV[2] end
local ids = redis.call('ZRANGEBYLEX', KEYS[2], start, '+', 'LIMIT', 0, limit + 1)
local page = {}
for i = 1, math.min(#ids, limit) do
  page[#page + 1] = ids[i]
  page[#page + 1] = redis.call('GET', ARGV[1] .. 'peer:' .. ids[i]) or false
end
local more = 0
if #ids > limit then more = 1 end
return { tonumber(redis.call('GET', KEYS[1]) or '0'), page, more }
`;

/** KEYS: name. ARGV: prefix. Returns {peer id, peer value} or nil. */
const RESOLVE_NAME = `
local peer_id = redis.call('GET', KEYS[1])
if not peer_id then return nil end
local value = redis.call('GET', ARGV[1] .. 'peer:' .. peer_id)
if not value then return nil end
return { peer_id, value }
`;

/**
 * KEYS: rev, base, log. Returns {current revision, base, first revision the log holds}, each 0
 * when absent: what Watch needs to tell whether it can serve a revision.
 */
const WATCH_RANGE = `
local first = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
local first_rev = 0
if first then first_rev = tonumber(string.match(first[1], '^(%d+)')) end
return { tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'), first_rev }
`;

interface ScriptDefinition {
  readonly lua: string;
  readonly numberOfKeys: number;
  readonly readOnly?: boolean;
  /** The script's `command` label in the Redis command metrics. */
  readonly metricName: string;
}

/** ioredis command names; the gv prefix keeps them apart from anything else defined on a client. */
const SCRIPTS = {
  gvRegister: { lua: REGISTER, numberOfKeys: 9, metricName: 'register' },
  gvRenew: { lua: RENEW, numberOfKeys: 2, metricName: 'renew' },
  gvDeregister: { lua: DEREGISTER, numberOfKeys: 6, metricName: 'deregister' },
  gvUpdate: { lua: UPDATE, numberOfKeys: 7, metricName: 'update' },
  gvEvict: { lua: EVICT, numberOfKeys: 6, metricName: 'evict' },
  gvSweep: { lua: SWEEP, numberOfKeys: 5, metricName: 'sweep' },
  gvList: { lua: LIST, numberOfKeys: 2, readOnly: true, metricName: 'list' },
  gvResolveName: { lua: RESOLVE_NAME, numberOfKeys: 1, readOnly: true, metricName: 'resolve_name' },
  gvWatchRange: { lua: WATCH_RANGE, numberOfKeys: 3, readOnly: true, metricName: 'watch_range' },
} as const satisfies Record<string, ScriptDefinition>;

export type ScriptMetricName = (typeof SCRIPTS)[keyof typeof SCRIPTS]['metricName'];

export const SCRIPT_METRIC_NAMES = Object.values(SCRIPTS).map((script) => script.metricName) as ScriptMetricName[];

/**
 * Which script an EVALSHA (by SHA1) or EVAL (by source) runs: ioredis sends a defined command as
 * EVALSHA, or as EVAL the first time on a connection.
 */
export const SCRIPT_BY_SHA_OR_SOURCE: ReadonlyMap<string, ScriptMetricName> = new Map(
  Object.values(SCRIPTS).flatMap((script): [string, ScriptMetricName][] => [
    [createHash('sha1').update(script.lua).digest('hex'), script.metricName],
    [script.lua, script.metricName],
  ]),
);

export type ScriptName = keyof typeof SCRIPTS;
export type ScriptArgument = string | number | Buffer;
type ScriptCall = (...args: ScriptArgument[]) => Promise<unknown>;

export interface DirectoryScripts {
  /** Runs a script; bulk strings in the reply come back as strings. */
  call(name: ScriptName, ...args: ScriptArgument[]): Promise<unknown>;
  /** Runs a script; bulk strings in the reply come back as Buffers (for record bytes). */
  callBuffer(name: ScriptName, ...args: ScriptArgument[]): Promise<unknown>;
  /** Queues a script on a pipeline, for writes that travel with another command. */
  queue(pipeline: unknown, name: ScriptName, ...args: ScriptArgument[]): void;
}

/** Defines the scripts on a client (idempotent) and returns typed ways to call them. */
export function defineDirectoryScripts(redis: DirectoryRedis): DirectoryScripts {
  for (const [name, { lua, numberOfKeys, ...rest }] of Object.entries(SCRIPTS)) {
    const readOnly = 'readOnly' in rest ? rest.readOnly : undefined;
    if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys, readOnly });
  }
  const method = (target: unknown, name: string): ScriptCall => {
    const fn = (target as Record<string, ScriptCall | undefined>)[name];
    if (typeof fn !== 'function') throw new Error(`script ${name} is not defined on this Redis client`);
    return fn.bind(target);
  };
  return {
    call: (name, ...args) => method(redis, name)(...args),
    callBuffer: (name, ...args) => method(redis, `${name}Buffer`)(...args),
    queue: (pipeline, name, ...args) => void method(pipeline, name)(...args),
  };
}
