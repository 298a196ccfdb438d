import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../../common/identity';
import { openRecord, signRecord } from '../../common/records';
import { CachedPeer, MAX_CACHED_PEERS, PeerCacheWriter, loadPeerCache, savePeerCache } from './peer-cache';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'grapevine-peer-cache-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Stand-in bytes: the cache neither decodes nor verifies records. */
function fakePeer(n: number, lastSeenMs = n): CachedPeer {
  return { record: { record: Buffer.from(`record-${n}`), signature: Buffer.alloc(64, n % 256) }, lastSeenMs };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(5);
  }
}

describe('savePeerCache and loadPeerCache', () => {
  test('round-trip signed records byte for byte, newest first', async () => {
    const path = join(dir, 'peers.json');
    const peers = [1, 2, 3].map((i) => ({
      record: signRecord(generateIdentity(), {
        network: 'default',
        name: `host-${i}`,
        addresses: [`10.0.0.${i}:7946`],
        labels: {},
        seq: 1,
        issuedAtMs: 1_700_000_000_000,
        withdrawn: false,
      }),
      lastSeenMs: [2_000, 3_000, 1_000][i - 1],
    }));
    await savePeerCache(path, peers, 5_000);
    const loaded = await loadPeerCache(path);
    expect(loaded.problem).toBeUndefined();
    expect(loaded.entries).toEqual([peers[1], peers[0], peers[2]]);
    expect(loaded.entries.map((entry) => openRecord(entry.record).name)).toEqual(['host-2', 'host-1', 'host-3']);
  });

  test('writes the documented JSON format', async () => {
    const path = join(dir, 'peers.json');
    await savePeerCache(path, [fakePeer(7, 1_234)], 9_999);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      version: 1,
      savedAtMs: 9_999,
      peers: [
        {
          record: Buffer.from('record-7').toString('base64'),
          signature: Buffer.alloc(64, 7).toString('base64'),
          lastSeenMs: 1_234,
        },
      ],
    });
  });

  test(`keeps only the ${MAX_CACHED_PEERS} most recently seen peers`, async () => {
    const path = join(dir, 'peers.json');
    const peers = Array.from({ length: MAX_CACHED_PEERS + 44 }, (_, i) => fakePeer(i));
    await savePeerCache(path, peers, 1);
    const { entries } = await loadPeerCache(path);
    expect(entries).toHaveLength(MAX_CACHED_PEERS);
    expect(entries[0].lastSeenMs).toBe(MAX_CACHED_PEERS + 43);
    expect(entries[MAX_CACHED_PEERS - 1].lastSeenMs).toBe(44);
  });

  test('creates a missing directory (0700) and the file (0600), and leaves no temp file behind', async () => {
    const cacheDir = join(dir, 'state', 'grapevine');
    const path = join(cacheDir, 'peers.json');
    await savePeerCache(path, [fakePeer(1)], 1);
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(cacheDir)).toEqual(['peers.json']);
  });

  test('replaces an existing file whole, with mode 0600', async () => {
    const path = join(dir, 'peers.json');
    writeFileSync(path, 'x'.repeat(10_000), { mode: 0o644 });
    await savePeerCache(path, [fakePeer(1), fakePeer(2)], 1);
    expect((await loadPeerCache(path)).entries).toEqual([fakePeer(2), fakePeer(1)]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['peers.json']);
  });

  test('a rename that fails leaves the target, its siblings and no temp file behind', async () => {
    // The target is a directory, so the final rename fails after the temp file was written.
    const path = join(dir, 'peers.json');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'keep');
    writeFileSync(join(dir, 'sibling'), 'keep too');
    await expect(savePeerCache(path, [fakePeer(1)], 1)).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(dir).sort()).toEqual(['peers.json', 'sibling']);
    expect(readdirSync(path)).toEqual(['inside']);
    expect(readFileSync(join(path, 'inside'), 'utf8')).toBe('keep');
    expect(readFileSync(join(dir, 'sibling'), 'utf8')).toBe('keep too');
  });

  test('a parent that is a file fails the save and changes nothing', async () => {
    writeFileSync(join(dir, 'state'), 'not a directory');
    await expect(savePeerCache(join(dir, 'state', 'peers.json'), [fakePeer(1)], 1)).rejects.toMatchObject({
      code: expect.stringMatching(/^(ENOTDIR|EEXIST)$/),
    });
    expect(readdirSync(dir)).toEqual(['state']);
    expect(readFileSync(join(dir, 'state'), 'utf8')).toBe('not a directory');
  });

  test('a missing file is an empty cache and no problem', async () => {
    await expect(loadPeerCache(join(dir, 'nothing-here.json'))).resolves.toEqual({ entries: [] });
  });

  const good = { record: 'cmVjb3Jk', signature: 'c2ln', lastSeenMs: 5 };
  test.each<[string, string, string]>([
    ['not JSON', '{"version": 1, "peers": [', 'is not JSON'],
    ['an empty file', '', 'is not JSON'],
    ['a JSON array', '[]', 'is not a JSON object'],
    ['another version', JSON.stringify({ version: 2, savedAtMs: 1, peers: [] }), 'has version 2'],
    ['no version', JSON.stringify({ savedAtMs: 1, peers: [] }), 'has version undefined'],
    ['no savedAtMs', JSON.stringify({ version: 1, peers: [] }), 'savedAtMs'],
    ['peers not a list', JSON.stringify({ version: 1, savedAtMs: 1, peers: {} }), '"peers"'],
    ['a peer that is not an object', JSON.stringify({ version: 1, savedAtMs: 1, peers: [good, 7] }), 'peers[1]'],
    [
      'a record that is not base64',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [{ ...good, record: 'not base64!' }] }),
      'peers[0].record',
    ],
    [
      'base64 without its padding',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [{ ...good, record: 'cmVjb3JkMQ' }] }),
      'peers[0].record',
    ],
    [
      'an empty record',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [{ ...good, record: '' }] }),
      'peers[0].record',
    ],
    [
      'a signature that is a number',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [{ ...good, signature: 12 }] }),
      'peers[0].signature',
    ],
    [
      'a negative lastSeenMs',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [good, { ...good, lastSeenMs: -1 }] }),
      'peers[1].lastSeenMs',
    ],
    [
      'a lastSeenMs in a string',
      JSON.stringify({ version: 1, savedAtMs: 1, peers: [{ ...good, lastSeenMs: '5' }] }),
      'peers[0].lastSeenMs',
    ],
  ])('%s is an empty cache and a problem naming the path and the fault', async (_, text, fault) => {
    const path = join(dir, 'peers.json');
    writeFileSync(path, text);
    const loaded = await loadPeerCache(path);
    expect(loaded.entries).toEqual([]);
    expect(loaded.problem).toContain(path);
    expect(loaded.problem).toContain(fault);
  });

  test('a path that cannot be read is a problem, not a throw', async () => {
    const loaded = await loadPeerCache(dir);
    expect(loaded.entries).toEqual([]);
    expect(loaded.problem).toContain(dir);
    expect(loaded.problem).toContain('EISDIR');
  });

  test('a file far bigger than any cache is not read', async () => {
    const path = join(dir, 'peers.json');
    writeFileSync(path, Buffer.alloc(4 * 1_024 * 1_024, 0x20));
    const loaded = await loadPeerCache(path);
    expect(loaded.entries).toEqual([]);
    expect(loaded.problem).toContain(path);
    expect(loaded.problem).toContain('bytes');
  });
});

describe('PeerCacheWriter', () => {
  let errors: unknown[];
  const onError = (error: unknown) => errors.push(error);
  beforeEach(() => {
    errors = [];
  });
  afterEach(() => {
    expect(errors).toEqual([]);
  });

  /** A snapshot source that counts the saves (each save takes one snapshot) and when they start. */
  function counter() {
    const startedAt: number[] = [];
    let version = 0;
    return {
      startedAt,
      change: () => ++version,
      snapshot: () => {
        startedAt.push(Date.now());
        return [fakePeer(1, version)];
      },
    };
  }

  async function savedVersion(path: string): Promise<number | undefined> {
    return (await loadPeerCache(path)).entries[0]?.lastSeenMs;
  }

  test('changes in one tick coalesce into one save of the latest state', async () => {
    const path = join(dir, 'peers.json');
    const source = counter();
    const writer = new PeerCacheWriter({ path, minIntervalMs: 50, onError });
    for (let i = 0; i < 10; i++) {
      source.change();
      writer.schedule(source.snapshot);
    }
    await waitUntil(() => source.startedAt.length > 0);
    await writer.flush(); // waits for the save in flight; nothing else is pending
    expect(source.startedAt).toHaveLength(1);
    expect(await savedVersion(path)).toBe(10);
    await writer.close();
  });

  test('saves at most once per minIntervalMs while changes keep coming, and writes the last one', async () => {
    const path = join(dir, 'peers.json');
    const minIntervalMs = 100;
    const source = counter();
    const writer = new PeerCacheWriter({ path, minIntervalMs, onError });
    const started = Date.now();
    while (Date.now() - started < 350) {
      source.change();
      writer.schedule(source.snapshot);
      await sleep(10);
    }
    const lastVersion = source.change();
    writer.schedule(source.snapshot);
    await sleep(minIntervalMs + 100);
    await writer.flush(); // waits for a save in flight

    // About 450 ms of changes and waiting at one save per 100 ms: 4 or 5 saves, not ~36.
    expect(source.startedAt.length).toBeGreaterThanOrEqual(2);
    expect(source.startedAt.length).toBeLessThanOrEqual(6);
    for (let i = 1; i < source.startedAt.length; i++) {
      // Timers never fire early; allow for the clock's millisecond rounding.
      expect(source.startedAt[i] - source.startedAt[i - 1]).toBeGreaterThanOrEqual(minIntervalMs - 2);
    }
    expect(await savedVersion(path)).toBe(lastVersion);
    await writer.close();
  });

  test('flush() at shutdown writes the pending change at once; close() then ignores changes', async () => {
    const path = join(dir, 'peers.json');
    const source = counter();
    let saved = 0;
    const writer = new PeerCacheWriter({ path, minIntervalMs: 60_000, onError, onSaved: () => saved++ });
    source.change();
    writer.schedule(source.snapshot);
    await writer.flush();
    expect(await savedVersion(path)).toBe(1);

    source.change();
    writer.schedule(source.snapshot); // the next save is a minute away
    await writer.flush();
    expect(await savedVersion(path)).toBe(2);
    expect(source.startedAt).toHaveLength(2);

    await writer.flush(); // nothing pending: no save
    await writer.close();
    source.change();
    writer.schedule(source.snapshot);
    await writer.flush();
    expect(source.startedAt).toHaveLength(2);
    expect(await savedVersion(path)).toBe(2);
    expect(saved).toBe(2);
  });

  test('close() drops a pending change', async () => {
    const path = join(dir, 'peers.json');
    const source = counter();
    const writer = new PeerCacheWriter({ path, minIntervalMs: 60_000, onError });
    writer.schedule(source.snapshot);
    await writer.close();
    await sleep(20);
    expect(source.startedAt).toHaveLength(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('saves never overlap: a save starts only after the one before it is on disk', async () => {
    const path = join(dir, 'peers.json');
    const onDiskAtStart: Array<number | undefined> = [];
    let version = 0;
    const snapshot = () => {
      const written = readdirSync(dir).includes('peers.json')
        ? JSON.parse(readFileSync(path, 'utf8')).peers[0].lastSeenMs
        : undefined;
      onDiskAtStart.push(written);
      return [fakePeer(1, version)];
    };
    const writer = new PeerCacheWriter({ path, minIntervalMs: 0, onError });
    version = 1;
    writer.schedule(snapshot);
    const first = writer.flush();
    version = 2;
    writer.schedule(snapshot);
    const second = writer.flush();
    version = 3;
    writer.schedule(snapshot);
    await Promise.all([first, second, writer.flush()]);
    expect(onDiskAtStart).toEqual([undefined, 1]);
    expect(await savedVersion(path)).toBe(3);
    await writer.close();
  });

  test('a failed save goes to onError and stays pending until flush() can write it', async () => {
    const path = join(dir, 'peers.json');
    mkdirSync(path); // a directory where the file should be: the rename fails
    const source = counter();
    const writer = new PeerCacheWriter({ path, minIntervalMs: 0, onError });
    source.change();
    writer.schedule(source.snapshot);
    await writer.flush();
    expect(errors).toEqual([expect.objectContaining({ code: 'EISDIR' })]);
    errors = [];

    rmSync(path, { recursive: true });
    await writer.flush();
    expect(await savedVersion(path)).toBe(1);
    expect(source.startedAt).toHaveLength(2);
    await writer.close();
  });

  test('refuses a negative minIntervalMs', () => {
    expect(() => new PeerCacheWriter({ path: join(dir, 'p.json'), minIntervalMs: -1, onError: () => {} })).toThrow(
      RangeError,
    );
  });
});
