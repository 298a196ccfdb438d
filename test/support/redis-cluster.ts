/**
 * A real Redis Cluster for tests: three redis-server masters on free loopback ports (each with its
 * cluster bus on a free port of its own), joined by `redis-cli --cluster create`, no replicas,
 * nothing saved. Stops every server and removes their dirs.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { startRedisServer, type RedisServer } from './redis-server';

const REDIS_CLI_BINARY = '/usr/bin/redis-cli';
const HOST = '127.0.0.1';
/** How long the cluster may take to agree on its slots once created, in ms. */
const CONVERGE_TIMEOUT_MS = 15_000;

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** redis://127.0.0.1:<port> of the first node: a seed, as a directory is given one. */
  readonly url: string;
  /** Removes every key from every node. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  readonly masters?: number;
  /** More redis-server arguments for every node, e.g. a short --cluster-node-timeout. */
  readonly extraArgs?: readonly string[];
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort();
      nodes.push(
        await startRedisServer({
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-port',
            String(busPort),
            ...(options.extraArgs ?? []),
          ],
        }),
      );
    }
    await promisify(execFile)(REDIS_CLI_BINARY, [
      '--cluster',
      'create',
      ...nodes.map((n) => `${HOST}:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    await untilEveryNode(nodes, async (node) => /cluster_state:ok/.test(String(await node.cluster('INFO'))));
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  return {
    nodes,
    url: nodes[0].url,
    flush: async () => {
      await onEachNode(nodes, (node) => node.flushall());
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Keys held by each node, in the order of `nodes`. */
export function keysByNode(cluster: RedisCluster, pattern: string): Promise<string[][]> {
  return onEachNode(cluster.nodes, async (node) => (await node.keys(pattern)).sort());
}

/** `f` on a connection of its own to one node of the cluster, closed after. */
export async function onNode<T>(server: RedisServer, f: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis(server.url, { lazyConnect: true });
  try {
    await node.connect();
    return await f(node);
  } finally {
    node.disconnect();
  }
}

function onEachNode<T>(nodes: readonly RedisServer[], f: (node: Redis) => Promise<T>): Promise<T[]> {
  return Promise.all(nodes.map((server) => onNode(server, f)));
}

async function untilEveryNode(nodes: readonly RedisServer[], ready: (node: Redis) => Promise<boolean>): Promise<void> {
  const until = Date.now() + CONVERGE_TIMEOUT_MS;
  for (;;) {
    if ((await onEachNode(nodes, ready)).every(Boolean)) return;
    if (Date.now() > until) throw new Error(`the Redis Cluster did not converge within ${CONVERGE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
