/**
 * Real `grapevine host` processes in network namespaces, split by a partition and joined again.
 *
 * Layout: six hosts in three sites of two, A = hosts 0 and 1, B = 2 and 3, C = 4 and 5. The test
 * network library gives every host a namespace of its own, joined to one bridge by a veth pair, so
 * a site is a pair of namespaces rather than one namespace with two hosts: two hosts in one
 * namespace would talk over its loopback, and nothing between them could be cut. Host 0 is the
 * seed of the others.
 *
 * The cut: site A's link to the rest goes down, which is partition(A, B ∪ C): packets between
 * the two sides vanish without an error while each side keeps talking inside. linkDown(i) is not
 * it: it pulls one host's own cable, so taking A down that way would also cut host 0 from host 1,
 * and A could not flood inside.
 *
 * The test process sits in the root namespace and cannot reach the hosts, so each host has an
 * agent (fixtures/host-agent.ts) started in its namespace before any flood: it holds the host's
 * Receive stream and answers Peers and Flood requests over stdin and stdout.
 *
 * Timing (the local profile: probes every 1 s, suspicions of 2 to 8 s, a retry of one remembered
 * dead peer every 10 s): the split took 7 to 26 s here and the rejoin 0.3 to 13 s, so a run takes
 * 20 to 45 s. The bounds below say why they are what they are. How long each phase took is printed
 * at the end.
 */
import {
  HostAgent,
  hostName,
  linkedComponents,
  snapshotViews,
  startNamespaceHost,
  trafficReport,
  type NamespaceHost,
  type ViewSnapshot,
} from '../support/namespace-hosts';
import { createTestNetwork, TestNetwork } from '../support/netns';

const SITE_A = [0, 1] as const;
const SITE_B = [2, 3] as const;
const SITE_C = [4, 5] as const;
const HOSTS = [...SITE_A, ...SITE_B, ...SITE_C];
const REST = [...SITE_B, ...SITE_C];
/** Every namespace has its own ports, so one port serves every host. */
const GRPC_PORT = 7_600;

/** Six tsx processes compiling at once on a small CI machine. */
const START_TIMEOUT_MS = 30_000;
/** Joins through one seed take a few probe periods. */
const CONVERGE_TIMEOUT_MS = 20_000;
/**
 * Seen from 7 to 26 s. Site A's hosts fail most of their probes, and relays on B and C send no
 * nacks, so Lifeguard takes them for the unhealthy side and slows their probing up to 9-fold: a
 * one-sided link from A to B or C can outlive a suspicion (at most 8 s) by several probe periods.
 */
const SPLIT_TIMEOUT_MS = 45_000;
/** Rejoins were seen from 0.3 to 13 s after the heal (one reconnect round); settling adds SETTLE_MS. */
const HEAL_TIMEOUT_MS = 40_000;
/**
 * How long the healed overlay must stay joined, with nobody suspected, before the floods that must
 * all arrive. Right after the first rejoin the two sides' verdicts from the partition (a peer of
 * the other side is dead at its current incarnation) still circulate: a peer that hears one drops
 * that peer even when it is its live neighbour on its own side, until the peer's refutation reaches
 * it. In 2 of 28 runs that flooded at the first rejoin, this cut the overlay again within 30 ms and
 * a flood missed one side. In 6 runs flooding every 0.3 s for 30 s after the rejoin, it split again
 * once, for under 0.4 s, and none of about 400 floods was lost. A full CI run later lost a flood
 * after the settling wait, with the overlay whole when the test gave up; such a cut is the likeliest
 * cause. The core has since kept refutations heard while a peer was out of the views (the stale
 * verdict no longer kills a peer re-learned from a record) and announces the floods it keeps to
 * every new link (a peer cut off while a flood went round grafts it once linked again); this wait
 * still keeps the test from depending on the first second after a heal.
 */
const SETTLE_MS = 3_000;
/** A flood over a connected six-host overlay arrives in milliseconds. */
const DELIVERY_TIMEOUT_MS = 5_000;
const POLL_MS = 250;
/** Floods after the heal, from both sides. */
const HEALED_FLOOD_ORIGINS = [0, 2, 4, 1, 3, 5];

describe('hosts in three sites across network namespaces', () => {
  let network: TestNetwork | undefined;
  const hosts: NamespaceHost[] = [];
  const agents: HostAgent[] = [];
  const figures: string[] = [];

  function net(): TestNetwork {
    if (!network) throw new Error('the test network was not made');
    return network;
  }

  function startHost(index: number, seeds: readonly string[]): Promise<NamespaceHost> {
    return startNamespaceHost(net(), index, {
      seeds,
      grpcPort: GRPC_PORT,
      logLevel: 'warn',
      startTimeoutMs: START_TIMEOUT_MS,
    });
  }

  const startAgent = (index: number): Promise<HostAgent> => HostAgent.start(net(), hosts[index]!);
  const snapshot = (): Promise<ViewSnapshot> => snapshotViews(agents, hosts);

  /** Active-view entries (one end is enough) between a host of `left` and one of `right`. */
  function crossLinks(snap: ViewSnapshot, left: readonly number[], right: readonly number[]): string[] {
    const found: string[] = [];
    for (const i of [...left, ...right]) {
      const others = left.includes(i) ? right : left;
      for (const j of snap.active.get(i) ?? []) if (others.includes(j)) found.push(`${hostName(i)}→${hostName(j)}`);
    }
    return found;
  }

  /** The last lines each host printed (warnings and errors), for failure messages. */
  function recentLogs(): string {
    return hosts.map((host, index) => `${hostName(index)} log:\n${host.log.slice(-10).join('\n')}`).join('\n');
  }

  /** Polls the views until `holds`; resolves with the time it took, or fails showing the views. */
  async function waitForViews(
    what: string,
    timeoutMs: number,
    holds: (snap: ViewSnapshot) => boolean,
  ): Promise<number> {
    const started = Date.now();
    for (;;) {
      const snap = await snapshot();
      if (holds(snap)) return Date.now() - started;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`no ${what} within ${timeoutMs} ms; views:\n${snap.text}\n${recentLogs()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Waits until every host of `to` has the flood, and says who has not when it gives up. */
  async function waitForDelivery(messageId: string, origin: number, to: readonly number[]): Promise<void> {
    const started = Date.now();
    for (;;) {
      const missing = to.filter((index) => agents[index]!.received(messageId) === 0);
      if (missing.length === 0) return;
      if (Date.now() - started > DELIVERY_TIMEOUT_MS) {
        throw new Error(
          `flood ${messageId} from ${hostName(origin)} did not reach ${missing.map(hostName).join(', ')}` +
            ` within ${DELIVERY_TIMEOUT_MS} ms; views:\n${(await snapshot()).text}\n${recentLogs()}\n` +
            (await trafficReport(agents)),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS / 5));
    }
  }

  const connected = (members: readonly number[]) => (snap: ViewSnapshot) =>
    linkedComponents(snap, members).length === 1;

  beforeAll(async () => {
    network = await createTestNetwork({ hosts: HOSTS.length });
    hosts.push(await startHost(0, []));
    hosts.push(...(await Promise.all(HOSTS.slice(1).map((index) => startHost(index, [hosts[0]!.address])))));
    agents.push(...(await Promise.all(HOSTS.map(startAgent))));
  }, 2 * START_TIMEOUT_MS);

  afterAll(async () => {
    for (const agent of agents) agent.close();
    await network?.destroy();
    // The figures a reader of the CI log wants; the assertions bound them.
    if (figures.length > 0) console.log(`host partition: ${figures.join(', ')}`);
  });

  it(
    'joins all six hosts into one overlay through the seed',
    async () => {
      const tookMs = await waitForViews('overlay joining all hosts', CONVERGE_TIMEOUT_MS, connected(HOSTS));
      figures.push(`joined in ${tookMs} ms`);
    },
    CONVERGE_TIMEOUT_MS + 10_000,
  );

  it('delivers a flood from one host to every other host', async () => {
    const id = await agents[3]!.flood('before the partition');
    await waitForDelivery(
      id,
      3,
      HOSTS.filter((index) => index !== 3),
    );
  });

  it(
    'splits the overlay when site A is cut off, and each side keeps flooding inside',
    async () => {
      await net().partition(SITE_A, REST);
      const splitMs = await waitForViews(
        'split with each side joined inside',
        SPLIT_TIMEOUT_MS,
        (snap) => crossLinks(snap, SITE_A, REST).length === 0 && connected(SITE_A)(snap) && connected(REST)(snap),
      );
      figures.push(`split in ${splitMs} ms`);

      const insideRest = await agents[4]!.flood('inside B and C');
      const insideA = await agents[0]!.flood('inside A');
      await waitForDelivery(insideRest, 4, [2, 3, 5]);
      await waitForDelivery(insideA, 0, [1]);
      // Nothing crosses: the partition is real, not just a change of views.
      for (const index of SITE_A) expect(agents[index]!.received(insideRest)).toBe(0);
      for (const index of REST) expect(agents[index]!.received(insideA)).toBe(0);
    },
    SPLIT_TIMEOUT_MS + 20_000,
  );

  it(
    'rejoins the overlay after the heal and, once it is steady, loses no flood',
    async () => {
      await net().heal();
      const healedAt = Date.now();
      let joinedAt: number | undefined;
      let steadySince: number | undefined;
      const settledMs = await waitForViews(
        `overlay joining both sides again and staying joined for ${SETTLE_MS} ms`,
        HEAL_TIMEOUT_MS + SETTLE_MS,
        (snap) => {
          const now = Date.now();
          const joined = connected(HOSTS)(snap);
          if (joined) joinedAt ??= now;
          if (!joined || snap.suspicions) {
            steadySince = undefined;
            return false;
          }
          steadySince ??= now;
          return now - steadySince >= SETTLE_MS;
        },
      );
      figures.push(`rejoined ${joinedAt! - healedAt} ms and settled ${settledMs} ms after the heal`);

      const floods: Array<{ id: string; origin: number }> = [];
      for (const [n, origin] of HEALED_FLOOD_ORIGINS.entries()) {
        floods.push({ id: await agents[origin]!.flood(`after the heal ${n}`), origin });
      }
      for (const { id, origin } of floods) {
        await waitForDelivery(
          id,
          origin,
          HOSTS.filter((index) => index !== origin),
        );
      }
      // Each exactly once: duplicates are suppressed by message id, however many paths there are.
      const counts = floods.map(({ id, origin }) =>
        HOSTS.filter((index) => index !== origin).map((index) => agents[index]!.received(id)),
      );
      expect(counts).toEqual(floods.map(() => HOSTS.slice(1).map(() => 1)));
    },
    HEAL_TIMEOUT_MS + SETTLE_MS + 30_000,
  );
});
