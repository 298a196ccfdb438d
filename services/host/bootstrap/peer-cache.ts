/**
 * The saved peer cache: the first place a restarting host looks for someone to talk to, the way
 * Bitcoin Core keeps anchors and Gnutella a host cache. A JSON file:
 *
 *   { "version": 1, "savedAtMs": n, "peers": [{ "record": base64, "signature": base64, "lastSeenMs": n }] }
 *
 * Records are stored signed and byte for byte; nothing here verifies them, the caller opens each
 * one with openRecord() as it would any record a peer relays. A cache that cannot be read is
 * reported and ignored: bootstrap goes on to the next source.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SignedRecord } from '../../gen/grapevine/v1/record';
import { MAX_RECORD_BYTES } from '../../common/limits';

export interface CachedPeer {
  readonly record: SignedRecord;
  /** When this host last heard from the peer, in ms since the epoch. */
  readonly lastSeenMs: number;
}

/** Peers kept in the file, newest first. Plenty to find a live one after a restart. */
export const MAX_CACHED_PEERS = 256;

const CACHE_VERSION = 1;
/** Bigger than any file savePeerCache writes (base64 of full-size records); refuse to read more. */
const MAX_CACHE_FILE_BYTES = MAX_CACHED_PEERS * 2 * MAX_RECORD_BYTES;
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/**
 * Writes the newest MAX_CACHED_PEERS entries to `path` atomically: a temp file in the same
 * directory, fsync, rename over the target, fsync the directory. A reader sees the old file or
 * the new one, never half of one, even across a crash. Creates the directory when missing.
 */
export async function savePeerCache(path: string, entries: readonly CachedPeer[], nowMs: number): Promise<void> {
  const newest = [...entries].sort((a, b) => b.lastSeenMs - a.lastSeenMs).slice(0, MAX_CACHED_PEERS);
  const text = JSON.stringify({
    version: CACHE_VERSION,
    savedAtMs: nowMs,
    peers: newest.map(({ record, lastSeenMs }) => ({
      record: Buffer.from(record.record).toString('base64'),
      signature: Buffer.from(record.signature).toString('base64'),
      lastSeenMs,
    })),
  });
  const directory = dirname(path);
  await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
  const temp = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(temp, 'wx', FILE_MODE);
    try {
      await file.writeFile(`${text}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  // The rename is durable only once the directory entry is.
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface LoadedPeerCache {
  /** Newest first, at most MAX_CACHED_PEERS; signatures not yet checked. */
  readonly entries: CachedPeer[];
  /** Why the file was ignored: names the path and what is wrong. Absent for a good or missing file. */
  readonly problem?: string;
}

/** Reads the cache. A missing file is an empty cache; a bad one is an empty cache and a problem. */
export async function loadPeerCache(path: string): Promise<LoadedPeerCache> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > MAX_CACHE_FILE_BYTES) {
      return ignored(path, `is ${size} bytes, more than the ${MAX_CACHE_FILE_BYTES} a cache can be`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { entries: [] };
    return ignored(path, `cannot be read (${code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return ignored(path, `is not JSON (${(error as Error).message})`);
  }
  const parsed = parseCache(json);
  if (typeof parsed === 'string') return ignored(path, parsed);
  return { entries: parsed.sort((a, b) => b.lastSeenMs - a.lastSeenMs).slice(0, MAX_CACHED_PEERS) };
}

function ignored(path: string, what: string): LoadedPeerCache {
  return { entries: [], problem: `peer cache ${path} ${what}; starting without it` };
}

/** The entries, or what is wrong with the file. */
function parseCache(json: unknown): CachedPeer[] | string {
  if (!isObject(json)) return 'is not a JSON object';
  if (json.version !== CACHE_VERSION) {
    return `has version ${JSON.stringify(json.version)}; this build reads version ${CACHE_VERSION}`;
  }
  if (!isTimestamp(json.savedAtMs)) return 'has no savedAtMs (a whole number of ms)';
  if (!Array.isArray(json.peers)) return 'has no "peers" list';
  const entries: CachedPeer[] = [];
  for (const [i, peer] of json.peers.entries()) {
    if (!isObject(peer)) return `peers[${i}] is not an object`;
    const record = decodeBase64(peer.record);
    if (!record || record.length === 0) return `peers[${i}].record is not non-empty base64`;
    const signature = decodeBase64(peer.signature);
    if (!signature || signature.length === 0) return `peers[${i}].signature is not non-empty base64`;
    if (!isTimestamp(peer.lastSeenMs)) return `peers[${i}].lastSeenMs is not a whole number of ms`;
    entries.push({ record: { record, signature }, lastSeenMs: peer.lastSeenMs });
  }
  return entries;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTimestamp(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Canonical padded base64 only: Buffer.from() skips bad characters, which would hide damage. */
function decodeBase64(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : undefined;
}

export interface PeerCacheWriterOptions {
  readonly path: string;
  /** Least time between the starts of two saves, in ms. Too low wears the disk; too high loses more peers in a crash. */
  readonly minIntervalMs: number;
  /** Clock for rate limiting and savedAtMs; Date.now when absent. */
  readonly now?: () => number;
  /** Gets every failed save; the writer goes on. */
  readonly onError: (error: unknown) => void;
  /** Told of every save that reached the disk. */
  readonly onSaved?: () => void;
}

/**
 * Saves the cache as the view changes, at most once per minIntervalMs. Changes in between
 * coalesce: only the latest snapshot is written, and the snapshot is taken when the save starts.
 * Saves never overlap. A failed save stays pending and goes out with the next change or flush(),
 * rather than being retried on a timer against a full or broken disk.
 */
export class PeerCacheWriter {
  private readonly path: string;
  private readonly minIntervalMs: number;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;
  private readonly onSaved: () => void;
  private pending: (() => CachedPeer[]) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private lastSaveAtMs = -Infinity;
  private closed = false;

  constructor(options: PeerCacheWriterOptions) {
    if (!Number.isSafeInteger(options.minIntervalMs) || options.minIntervalMs < 0) {
      throw new RangeError(
        `peer cache minIntervalMs must be a whole number of ms from 0, got ${options.minIntervalMs}`,
      );
    }
    this.path = options.path;
    this.minIntervalMs = options.minIntervalMs;
    this.now = options.now ?? Date.now;
    this.onError = options.onError;
    this.onSaved = options.onSaved ?? (() => undefined);
  }

  /** Notes a change; `snapshot` is called once, when the save starts. Ignored after close(). */
  schedule(snapshot: () => CachedPeer[]): void {
    if (this.closed) return;
    this.pending = snapshot;
    if (this.timer === undefined && this.saving === undefined) this.arm();
  }

  /** Saves the pending change now, after any save in flight (for shutdown). Errors go to onError. */
  async flush(): Promise<void> {
    while (this.saving) await this.saving;
    this.disarm();
    if (this.pending) await this.save();
  }

  /** Stops the timer and drops any pending change (flush() first to keep it); waits for a save in flight. */
  async close(): Promise<void> {
    this.closed = true;
    this.disarm();
    this.pending = undefined;
    while (this.saving) await this.saving;
  }

  private arm(): void {
    const delayMs = Math.max(0, this.lastSaveAtMs + this.minIntervalMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.save();
    }, delayMs);
    this.timer.unref();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private save(): Promise<void> {
    const snapshot = this.pending;
    if (!snapshot) return Promise.resolve();
    this.pending = undefined;
    this.lastSaveAtMs = this.now();
    const saving = (async () => {
      try {
        await savePeerCache(this.path, snapshot(), this.lastSaveAtMs);
        this.onSaved();
      } catch (error) {
        this.onError(error);
        // Keep what failed unless something newer came in meanwhile, and wait for a change or a
        // flush to try again.
        if (!this.pending && !this.closed) {
          this.pending = snapshot;
          return;
        }
      }
      if (this.pending && !this.closed) this.arm();
    })().finally(() => {
      this.saving = undefined;
    });
    this.saving = saving;
    return saving;
  }
}
