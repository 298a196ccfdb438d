/**
 * A directory on a real three-node Redis Cluster (`redisCluster`, `redisUrl` naming one node),
 * over real gRPC: every call works as on one Redis, the networks spread over the nodes, and the
 * settings that cannot work on a cluster are refused before anything starts.
 */
import { directoryConfigSchema } from '../../services/directory/config';
import { TestDirectory, codeOf, collect, snapshot, startTestDirectory } from '../support/directory';
import { RedisCluster, keysByNode, onNode, startRedisCluster } from '../support/redis-cluster';
import { generateIdentity, signed } from '../support/records';

describe('Directory on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let t: TestDirectory;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    t = await startTestDirectory({ redisUrl: cluster.url, redisCluster: true, sweepIntervalMs: 50, minTtlSeconds: 1 });
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await cluster?.stop();
  });

  test('register, resolve, list, renew, watch and expiry in networks held by different nodes', async () => {
    const networks = Array.from({ length: 8 }, (_, i) => `team-${i}`);
    const watches = networks.map((network) => collect(t, { network, fromRevision: 0 }));
    const peers = networks.map(() => generateIdentity());
    const leases = await Promise.all(
      networks.map((network, i) => t.client.register(signed(peers[i], { network, name: 'web' }), 2)),
    );
    for (const [i, network] of networks.entries()) {
      expect((await t.client.resolve(network, { name: 'web' })).record.peerId).toBe(peers[i].peerId);
      expect((await snapshot(t, network)).peers.map((p) => p.id)).toEqual([peers[i].peerId]);
    }
    expect(await t.client.renew(leases[0].leaseId)).toBe(2);

    // Each network's keys on one node; together the networks use more than one.
    const holders = await Promise.all(
      networks.map(async (network) =>
        (await keysByNode(cluster, `gv:{${network}}:*`)).flatMap((keys, node) => (keys.length > 0 ? [node] : [])),
      ),
    );
    expect(holders.every((nodes) => nodes.length === 1)).toBe(true);
    expect(new Set(holders.flat()).size).toBeGreaterThan(1);

    // Every watch sees its put, then the sweeper's expiry once the 2 s leases end.
    for (const [i, watch] of watches.entries()) {
      await watch.until(2, 10_000);
      expect(watch.changes.map((c) => [c.type, c.peerId, c.reason])).toEqual([
        ['put', peers[i].peerId, ''],
        ['delete', peers[i].peerId, 'expired'],
      ]);
      await watch.stop();
    }
  }, 30_000);

  test("the directory's Redis metrics count the commands the cluster answered, watch connections too", async () => {
    const text = await (await fetch(`http://127.0.0.1:${t.directory.metricsPort}/metrics`)).text();
    const count = (command: string) =>
      Number(
        new RegExp(`grapevine_directory_redis_command_duration_seconds_count\\{command="${command}"\\} (\\d+)`).exec(
          text,
        )?.[1] ?? 0,
      );
    expect(count('register')).toBeGreaterThanOrEqual(8);
    expect(count('renew')).toBeGreaterThanOrEqual(1);
    expect(count('sweep')).toBeGreaterThanOrEqual(1);
    expect(count('xread')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/grapevine_directory_redis_errors_total\{command="register"\} 0\n/);
  });

  test('refuses a cluster without a URL, or a URL naming a database other than 0', () => {
    const none = directoryConfigSchema.safeParse({ plaintext: true, redisCluster: true });
    expect(none.error?.issues.map((i) => i.message).join('\n')).toMatch(/redisCluster is set but redisUrl is empty/);
    const db = directoryConfigSchema.safeParse({ plaintext: true, redisUrl: `${cluster.url}/3`, redisCluster: true });
    expect(db.error?.issues.map((i) => i.message).join('\n')).toMatch(/a Redis Cluster has only database 0/);
    expect(
      directoryConfigSchema.safeParse({ plaintext: true, redisUrl: `${cluster.url}/0`, redisCluster: true }).success,
    ).toBe(true);
  });
});

describe('Directory on a Redis Cluster that loses a node', () => {
  let cluster: RedisCluster;
  let t: TestDirectory;

  beforeAll(async () => {
    // No replicas: a lost master's slots are down until it returns; the other slots keep serving.
    cluster = await startRedisCluster({
      extraArgs: ['--cluster-node-timeout', '1000', '--cluster-require-full-coverage', 'no'],
    });
    t = await startTestDirectory({ redisUrl: cluster.url, redisCluster: true, minTtlSeconds: 1, sweepIntervalMs: 100 });
  }, 60_000);

  afterAll(async () => {
    await t?.stop();
    await cluster?.stop();
  });

  test("the other nodes' networks keep working, the lost node's answer UNAVAILABLE, and serve again when it returns", async () => {
    const networks = Array.from({ length: 12 }, (_, i) => `zone-${i}`);
    const peers = networks.map(() => generateIdentity());
    await Promise.all(networks.map((network, i) => t.client.register(signed(peers[i], { network }), 60)));
    const holderOf = async (pattern: string) =>
      (await keysByNode(cluster, pattern)).findIndex((keys) => keys.length > 0);
    const holder = new Map<string, number>();
    for (const network of networks) holder.set(network, await holderOf(`gv:{${network}}:*`));
    // The sweeper's list of networks is one key, on one node: see the next test for losing that one.
    const listNode = await holderOf('gv:networks');
    const victim = [...holder.values()].find((node) => node !== listNode)!;
    expect(victim).toBeDefined();
    const lost = networks.filter((n) => holder.get(n) === victim);
    const kept = networks.filter((n) => holder.get(n) !== victim);
    const peerOf = (network: string) => peers[networks.indexOf(network)].peerId;

    await cluster.nodes[victim].kill();
    for (const network of kept) {
      expect((await t.client.resolve(network, { peerId: peerOf(network) })).record.peerId).toBe(peerOf(network));
      expect(await codeOf(t.client.register(signed(generateIdentity(), { network }), 60))).toBe('OK');
    }
    for (const network of lost) {
      expect(await codeOf(t.client.resolve(network, { peerId: peerOf(network) }))).toBe('UNAVAILABLE');
      expect(await codeOf(t.client.register(signed(generateIdentity(), { network }), 60))).toBe('UNAVAILABLE');
    }

    // Back, with nothing (nothing is saved): its networks answer again, without their peers.
    await cluster.nodes[victim].restart();
    await untilCode(() => t.client.resolve(lost[0], { peerId: peerOf(lost[0]) }), 'NOT_FOUND');
    for (const network of lost) {
      expect(await codeOf(t.client.resolve(network, { peerId: peerOf(network) }))).toBe('NOT_FOUND');
      expect(await codeOf(t.client.register(signed(peers[networks.indexOf(network)], { network, seq: 2 }), 60))).toBe(
        'OK',
      );
    }

    // Losing the node of the networks list stops registrations only in networks the directory has
    // not seen (a new network must join the list first); known ones go on registering, reads go
    // on, and so do expiries.
    const elsewhere = networks.find((n) => holder.get(n) !== listNode)!;
    const fresh = await unseenNetworkOn(cluster, holder.get(elsewhere)!);
    const shortLived = generateIdentity();
    await t.client.register(signed(shortLived, { network: elsewhere }), 1);
    await cluster.nodes[listNode].kill();
    expect((await t.client.resolve(elsewhere, { peerId: peerOf(elsewhere) })).record.peerId).toBe(peerOf(elsewhere));
    expect(await codeOf(t.client.register(signed(generateIdentity(), { network: elsewhere }), 60))).toBe('OK');
    expect(await codeOf(t.client.register(signed(generateIdentity(), { network: fresh }), 60))).toBe('UNAVAILABLE');
    await untilCode(() => t.client.resolve(elsewhere, { peerId: shortLived.peerId }), 'NOT_FOUND');

    // Back with an empty list: the sweeper puts every network back, so none is forgotten.
    await cluster.nodes[listNode].restart();
    await untilCode(() => t.client.register(signed(generateIdentity(), { network: fresh }), 60), 'OK');
    await untilCode(async () => {
      const members = await onNode(cluster.nodes[listNode], (node) => node.smembers('gv:networks'));
      if (![...networks, fresh].every((n) => members.includes(n))) throw new Error(`listed ${members.length}`);
    }, 'OK');
  }, 90_000);
});

/** A network no test has used whose keys the node at `index` holds (another node answers MOVED). */
async function unseenNetworkOn(cluster: RedisCluster, index: number): Promise<string> {
  return onNode(cluster.nodes[index], async (node) => {
    for (let i = 0; ; i++) {
      const network = `unseen-${i}`;
      try {
        await node.get(`gv:{${network}}:rev`);
        return network;
      } catch {
        // MOVED: another node's slot.
      }
    }
  });
}

/** Calls until the call ends with `code`, for up to 30 s. */
async function untilCode(call: () => Promise<unknown>, code: string): Promise<void> {
  const until = Date.now() + 30_000;
  while ((await codeOf(call())) !== code) {
    if (Date.now() > until) throw new Error(`no ${code} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
