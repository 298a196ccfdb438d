/**
 * The transport compliance suite: what any transport under the membership core must deliver.
 * It runs against the simulator's network (test/membership/sim-transport.test.ts) and against
 * real `grapevine host` processes over gRPC (test/host/grpc-transport.test.ts), so both carry
 * the protocol the same way: joins make symmetric links, the overlay is connected, a flood
 * reaches every peer once, and a crashed peer is dropped by its neighbours in the configured time.
 *
 * Times are protocol time: the simulator advances a virtual clock, the real cluster waits.
 */
import { localConfig } from '../../services/membership';

export interface Views {
  readonly active: readonly string[];
  readonly passive: readonly string[];
}

export interface ComplianceCluster {
  /** Peer ids, by index. */
  readonly ids: readonly string[];
  /** Lets `ms` of protocol time pass. */
  settle(ms: number): Promise<void>;
  views(index: number): Promise<Views>;
  /** Floods `text` from a peer, as its application would. */
  flood(index: number, text: string): Promise<void>;
  /** Every flood payload a peer's application has received, in order. */
  received(index: number): readonly string[];
  /** Crashes a peer: no goodbye, it just stops answering. */
  crash(index: number): Promise<void>;
  stop(): Promise<void>;
}

export type ClusterFactory = (size: number) => Promise<ComplianceCluster>;

/** The local profile every cluster runs: its timeouts bound the waits below. */
const CONFIG = localConfig();
const STEP_MS = 250;
const CLUSTER_SIZE = 5;
/** A joined cluster settles within a few neighbour-request rounds and probe periods. */
const JOIN_WITHIN_MS = 15_000;
/** Detection: a probe period to notice, the longest suspicion, and a probe period of slack. */
const DETECT_WITHIN_MS = 2 * CONFIG.probeIntervalMs + CONFIG.suspicionMaxMs + 2_000;
const FLOOD_WITHIN_MS = 3_000;

async function eventually(
  cluster: ComplianceCluster,
  withinMs: number,
  check: () => Promise<string | undefined>,
): Promise<void> {
  let problem: string | undefined;
  for (let waited = 0; ; waited += STEP_MS) {
    problem = await check();
    if (problem === undefined) return;
    if (waited >= withinMs) break;
    await cluster.settle(STEP_MS);
  }
  throw new Error(`after ${withinMs} ms of protocol time: ${problem}`);
}

async function allViews(cluster: ComplianceCluster, live: readonly number[]): Promise<Map<string, Views>> {
  const views = new Map<string, Views>();
  for (const i of live) views.set(cluster.ids[i], await cluster.views(i));
  return views;
}

/** What is wrong with the overlay of `live` peers, or undefined when links are symmetric and connected. */
function overlayProblem(
  cluster: ComplianceCluster,
  live: readonly number[],
  views: Map<string, Views>,
): string | undefined {
  const ids = live.map((i) => cluster.ids[i]);
  for (const id of ids) {
    const active = views.get(id)!.active;
    if (active.length === 0) return `${id.slice(0, 8)} has no active neighbour`;
    for (const peer of active) {
      const back = views.get(peer);
      if (back && !back.active.includes(id)) return `link ${id.slice(0, 8)}→${peer.slice(0, 8)} is one-sided`;
    }
  }
  const seen = new Set([ids[0]]);
  const queue = [ids[0]];
  while (queue.length > 0) {
    for (const peer of views.get(queue.shift()!)!.active) {
      if (views.has(peer) && !seen.has(peer)) {
        seen.add(peer);
        queue.push(peer);
      }
    }
  }
  return seen.size === ids.length ? undefined : `overlay reaches ${seen.size} of ${ids.length} peers`;
}

export function describeTransportCompliance(name: string, start: ClusterFactory, timeoutMs: number): void {
  describe(`transport compliance: ${name}`, () => {
    let cluster: ComplianceCluster;
    const all = Array.from({ length: CLUSTER_SIZE }, (_, i) => i);

    beforeAll(async () => {
      cluster = await start(CLUSTER_SIZE);
    }, timeoutMs);

    afterAll(async () => {
      await cluster?.stop();
    }, timeoutMs);

    it(
      'joins every peer through one seed into a connected overlay of symmetric links',
      async () => {
        await eventually(cluster, JOIN_WITHIN_MS, async () =>
          overlayProblem(cluster, all, await allViews(cluster, all)),
        );
      },
      timeoutMs,
    );

    it(
      'delivers a flood to every other peer exactly once, and not back to its origin',
      async () => {
        await cluster.flood(0, 'hello-all');
        await eventually(cluster, FLOOD_WITHIN_MS, async () => {
          const missing = all.filter((i) => i !== 0 && !cluster.received(i).includes('hello-all'));
          return missing.length === 0 ? undefined : `peers ${missing.join(',')} did not receive the flood`;
        });
        await cluster.settle(500);
        for (const i of all) {
          expect(cluster.received(i).filter((text) => text === 'hello-all')).toHaveLength(i === 0 ? 0 : 1);
        }
      },
      timeoutMs,
    );

    it(
      'drops a crashed peer from every view within the detection time, and floods still reach the rest',
      async () => {
        const victim = CLUSTER_SIZE - 1;
        const victimId = cluster.ids[victim];
        const live = all.filter((i) => i !== victim);
        const before = await allViews(cluster, live);
        expect(live.some((i) => before.get(cluster.ids[i])!.active.includes(victimId))).toBe(true);
        await cluster.crash(victim);
        await eventually(cluster, DETECT_WITHIN_MS, async () => {
          const views = await allViews(cluster, live);
          const holders = live.filter((i) => {
            const v = views.get(cluster.ids[i])!;
            return v.active.includes(victimId);
          });
          return holders.length === 0 ? undefined : `peers ${holders.join(',')} still hold the crashed peer as active`;
        });
        await eventually(cluster, JOIN_WITHIN_MS, async () =>
          overlayProblem(cluster, live, await allViews(cluster, live)),
        );
        await cluster.flood(1, 'after-crash');
        await eventually(cluster, FLOOD_WITHIN_MS, async () => {
          const missing = live.filter((i) => i !== 1 && !cluster.received(i).includes('after-crash'));
          return missing.length === 0 ? undefined : `peers ${missing.join(',')} missed the flood after the crash`;
        });
      },
      timeoutMs,
    );
  });
}
