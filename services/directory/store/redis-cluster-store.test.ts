/**
 * The Redis store on a real three-node Redis Cluster: the whole store contract, networks spread
 * over the nodes (each network's keys on the one node that owns its hash tag's slot), and the
 * lost-connection path a cluster client takes.
 */
import { RedisCluster, keysByNode, startRedisCluster } from '../../../test/support/redis-cluster';
import { createDirectoryRedis, redisAddress, waitForRedis, type DirectoryRedis } from './redis-connection';
import { createRedisStore } from './redis-store';
import { TestPeer, describeStoreContract } from './store-contract';

let cluster: RedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function connect(): Promise<DirectoryRedis> {
  const redis = createDirectoryRedis(cluster.url, {}, true);
  await waitForRedis(redis, 10_000);
  return redis;
}

describeStoreContract('redis cluster', async (options) => {
  await cluster.flush();
  const redis = await connect();
  const store = createRedisStore({ redis }, { ...options, sweepBatchSize: 7, watchPollMs: 200 });
  return {
    store,
    async close() {
      await store.close();
      await redis.quit();
    },
  };
});

describe('redis store on a cluster', () => {
  test('networks spread over the nodes, each network whole on one node', async () => {
    await cluster.flush();
    const redis = await connect();
    const store = createRedisStore(
      { redis },
      { logRetention: 100, seqFloorRetentionMs: 60_000, now: () => Date.now() },
    );
    try {
      const networks = Array.from({ length: 12 }, (_, i) => `net-${i}`);
      for (const network of networks) {
        for (const name of ['a', 'b']) await store.register(new TestPeer(network, name).registration());
      }
      const counts = await store.countPeers();
      expect(networks.map((n) => counts.get(n))).toEqual(networks.map(() => 2));

      const holders = await Promise.all(
        networks.map(async (network) => {
          const byNode = await keysByNode(cluster, `gv:{${network}}:*`);
          return byNode.map((keys, node) => (keys.length > 0 ? node : -1)).filter((node) => node >= 0);
        }),
      );
      // Each network lives on exactly one node, and twelve networks use more than one node.
      expect(holders.every((nodes) => nodes.length === 1)).toBe(true);
      expect(new Set(holders.map(([node]) => node)).size).toBeGreaterThan(1);
      expect(redisAddress(redis)).toBe(`cluster via ${cluster.url.slice('redis://'.length)}`);
    } finally {
      await store.close();
      await redis.quit();
    }
  });

  test('a cluster that cannot be reached fails calls at once with UNAVAILABLE', async () => {
    const redis = createDirectoryRedis('redis://127.0.0.1:1', { connectTimeout: 200 }, true);
    const store = createRedisStore(
      { redis },
      { logRetention: 100, seqFloorRetentionMs: 60_000, now: () => Date.now() },
    );
    try {
      const started = Date.now();
      await expect(store.resolveById('default', new TestPeer('default', 'x').peerId)).rejects.toMatchObject({
        name: 'UnavailableError',
        message: expect.stringContaining('cluster via 127.0.0.1:1'),
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await store.close();
      redis.disconnect();
    }
  });
});
