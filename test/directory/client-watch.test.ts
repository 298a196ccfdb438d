/**
 * The typed client's watch survives the loss of its directory replica, and the end of a stream
 * that lived its time: it reconnects, resumes from its last revision, and yields every change once.
 */
import { getEventListeners } from 'node:events';
import { status } from '@grpc/grpc-js';
import { PeerChange } from '../../services/client/directory-client';
import { DirectoryClient } from '../../services/client/directory-client';
import { PermissionDeniedError } from '../../services/common/errors';
import { openRecord } from '../../services/common/records';
import { freePort } from '../support/free-port';
import { scrape, seriesValue } from '../support/metrics-text';
import { RedisServer, startRedisServer } from '../support/redis-server';
import { TestDirectory, startTestDirectory } from '../support/directory';
import { generateIdentity, signed } from '../support/records';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  await redis.stop();
});

test('a client given openRecord opens every record the directory returns with it, and its refusal fails the call', async () => {
  const t = await startTestDirectory({ redisUrl: redis.url });
  const opened: string[] = [];
  const counting = new DirectoryClient(t.address, {
    openRecord: (record) => {
      const peer = openRecord(record);
      opened.push(peer.peerId);
      return peer;
    },
  });
  const refusing = new DirectoryClient(t.address, {
    openRecord: () => {
      throw new PermissionDeniedError('refused by the caller');
    },
  });
  const a = generateIdentity();
  const abort = new AbortController();
  try {
    const { revision } = await counting.register(signed(a));
    expect((await counting.resolve('default', { peerId: a.peerId })).record.peerId).toBe(a.peerId);
    expect((await counting.listPage('default')).peers.map((peer) => peer.record.peerId)).toContain(a.peerId);
    for await (const change of counting.watch('default', { fromRevision: revision - 1, signal: abort.signal })) {
      expect(change.peerId).toBe(a.peerId);
      break;
    }
    expect(opened.filter((id) => id === a.peerId)).toHaveLength(3);
    await expect(refusing.resolve('default', { peerId: a.peerId })).rejects.toThrow('refused by the caller');
  } finally {
    abort.abort();
    counting.close();
    refusing.close();
    await t.stop();
  }
});

test('watch resumes from its last revision on a restarted replica, with nothing missed or repeated', async () => {
  const port = await freePort();
  let replica: TestDirectory = await startTestDirectory({ redisUrl: redis.url, grpcPort: port });
  const writer = new DirectoryClient(`127.0.0.1:${port}`);
  const watcher = new DirectoryClient(`127.0.0.1:${port}`);
  const abort = new AbortController();
  const { seen, until, watching } = watchFromNow(watcher, abort.signal);

  // The watch starts "from now": give it a moment to be established before the first change.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [a, b, c] = [generateIdentity(), generateIdentity(), generateIdentity()];
  await writer.register(signed(a));
  expect(await until(1)).toBe(1);

  try {
    await replica.stop();
    replica = await startTestDirectory({ redisUrl: redis.url, grpcPort: port });
    // The writer's channel may still be backing off from the replica's absence: a client retries.
    await registerOnceUp(writer, signed(b));
    await writer.register(signed(c));
    expect(await until(3)).toBe(3);
  } finally {
    abort.abort();
    await watching;
    writer.close();
    watcher.close();
    await replica.stop();
  }
  expect(seen.map((change) => change.peerId)).toEqual([a.peerId, b.peerId, c.peerId]);
  const revisions = seen.map((change) => change.revision);
  expect(revisions).toEqual([revisions[0], revisions[0] + 1, revisions[0] + 2]);
});

test('watch resumes from its last revision when the directory ends a stream that lived its time', async () => {
  const t = await startTestDirectory({ redisUrl: redis.url, watchMaxLifetimeMs: 300 });
  const writer = new DirectoryClient(t.address);
  const watcher = new DirectoryClient(t.address);
  const abort = new AbortController();
  const { seen, until, watching } = watchFromNow(watcher, abort.signal);
  const peers = Array.from({ length: 10 }, () => generateIdentity());
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    // 1.2 s of changes: each stream lives 150 to 300 ms, so several end in between.
    for (const peer of peers) {
      await writer.register(signed(peer));
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    expect(await until(peers.length)).toBe(peers.length);
    // Each reconnect waited on the same signal: at most the live stream's listener remains.
    expect(getEventListeners(abort.signal, 'abort').length).toBeLessThanOrEqual(1);
  } finally {
    abort.abort();
    await watching;
    writer.close();
    watcher.close();
  }
  const metrics = await scrape(t.directory.metricsPort!);
  await t.stop();
  const endedOk = seriesValue(metrics, 'grpc_server_handled_total', { grpc_method: 'Watch', grpc_code: 'OK' });
  expect(endedOk).toBeGreaterThanOrEqual(3);
  expect(seen.map((change) => change.peerId)).toEqual(peers.map((peer) => peer.peerId));
  const revisions = seen.map((change) => change.revision);
  expect(revisions).toEqual(revisions.map((_, i) => revisions[0] + i));
});

/** A watch "from now" collecting every change; `until(n)` waits up to 10 s for n of them. */
function watchFromNow(watcher: DirectoryClient, signal: AbortSignal) {
  const seen: PeerChange[] = [];
  let wake = () => {};
  const watching = (async () => {
    for await (const change of watcher.watch('default', { fromRevision: undefined, signal, retryDelayMs: 50 })) {
      seen.push(change);
      wake();
    }
  })();
  const until = async (count: number) => {
    const deadline = Date.now() + 10_000;
    while (seen.length < count && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return seen.length;
  };
  return { seen, until, watching };
}

/** Registers, retrying UNAVAILABLE for up to 10 s while the client reconnects. */
async function registerOnceUp(client: DirectoryClient, record: ReturnType<typeof signed>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.register(record);
      return;
    } catch (error) {
      if ((error as { code?: number }).code !== status.UNAVAILABLE || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
