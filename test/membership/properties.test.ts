/**
 * Invariants of the membership protocol over random schedules of faults, in the simulator:
 * - an incarnation never goes back (a peer's own, and what others hold of it while they know it);
 * - views stay within their bounds;
 * - a forged record never enters a view, however it arrives;
 * - after the faults stop, the overlay is connected and every live peer holds the current record
 *   of each of its neighbours.
 * The fast-check seed is printed, and FC_SEED=<n> replays a run.
 */
import fc from 'fast-check';
import type { Message } from '../../services/membership/messages';
import { forgedSimRecord } from '../../services/membership/sim/sim-records';
import { parseScenario, type ScenarioInput } from '../../services/membership/sim/scenario';
import { Simulation, type SimNode } from '../../services/membership/sim/simulator';

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`membership properties: fast-check seed ${seed} (FC_SEED=${seed} replays)`);

const FAULTS_END_S = 150;
const SETTLE_S = 150;

const fault = fc.oneof(
  fc.record({
    kind: fc.constant('crash' as const),
    atS: fc.integer({ min: 30, max: FAULTS_END_S - 10 }),
    fraction: fc.double({ min: 0.05, max: 0.4, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('restart' as const),
    atS: fc.integer({ min: 30, max: FAULTS_END_S }),
    fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.integer({ min: 30, max: FAULTS_END_S - 20 }).chain((atS) =>
    fc.record({
      kind: fc.constant('partition' as const),
      atS: fc.constant(atS),
      fraction: fc.double({ min: 0.1, max: 0.9, noNaN: true }),
      untilS: fc.integer({ min: atS + 1, max: FAULTS_END_S }),
    }),
  ),
  fc.integer({ min: 30, max: FAULTS_END_S - 20 }).chain((atS) =>
    fc.record({
      kind: fc.constant('loss' as const),
      atS: fc.constant(atS),
      rate: fc.double({ min: 0, max: 0.3, noNaN: true }),
      untilS: fc.integer({ min: atS + 1, max: FAULTS_END_S }),
    }),
  ),
  fc.integer({ min: 30, max: FAULTS_END_S - 20 }).chain((atS) =>
    fc.record({
      kind: fc.constant('slow' as const),
      atS: fc.constant(atS),
      fraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
      stallProbability: fc.double({ min: 0, max: 1, noNaN: true }),
      maxStallMs: fc.integer({ min: 0, max: 3_000 }),
      tickMs: fc.constant(1_000),
      untilS: fc.integer({ min: atS + 1, max: FAULTS_END_S }),
    }),
  ),
  fc.record({
    kind: fc.constant('record-update' as const),
    atS: fc.integer({ min: 30, max: FAULTS_END_S }),
    fraction: fc.double({ min: 0, max: 0.5, noNaN: true }),
  }),
);

const schedule = fc.record({
  nodes: fc.integer({ min: 6, max: 24 }),
  simSeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  lifeguard: fc.boolean(),
  faults: fc.array(fault, { maxLength: 6 }),
  forgeries: fc.array(
    fc.tuple(
      fc.integer({ min: 20, max: FAULTS_END_S }),
      fc.nat(),
      fc.constantFrom('join', 'neighbor', 'introduce', 'shuffle', 'push-pull', 'alive'),
    ),
    { maxLength: 8 },
  ),
});

type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never;

function forgedMessage(kind: string, n: number): Message {
  const id = `forged${n}`;
  const address = `198.51.100.${(n % 250) + 1}:7946`;
  const record = forgedSimRecord(id, 1, [address]);
  const header = { from: id, fromAddress: address };
  switch (kind) {
    case 'join':
      return { type: 'join', ...header, record };
    case 'neighbor':
      return { type: 'neighbor', ...header, record, highPriority: true };
    case 'introduce':
      return { type: 'introduce', ...header, record };
    case 'shuffle':
      return { type: 'shuffle', ...header, origin: id, originAddress: address, records: [record, record], ttl: 0 };
    case 'push-pull':
      return { type: 'push-pull', ...header, records: [record], reply: true };
    default:
      return { type: 'gossip', ...header, updates: [{ kind: 0, peer: id, incarnation: 9, from: id, record }] };
  }
}

function runSchedule(s: Schedule): void {
  const input: ScenarioInput = {
    name: 'property',
    nodes: s.nodes,
    durationS: FAULTS_END_S + SETTLE_S,
    joinRatePerS: 20,
    sampleEveryS: 10,
    componentEverySample: false,
    config: { lifeguard: s.lifeguard },
    events: [...s.faults, { kind: 'restart', atS: FAULTS_END_S + 1, fraction: 1 }],
  };
  const ownIncarnation = new Map<number, number>();
  const heldIncarnation = new Map<string, number>();
  const problems: string[] = [];
  const sim = new Simulation(parseScenario(input), s.simSeed, {
    onEffects(_sim, n: SimNode) {
      const node = n.node;
      if (!node) return;
      const own = node.incarnation;
      if (own < (ownIncarnation.get(n.index) ?? -1)) problems.push(`${n.id} incarnation went back to ${own}`);
      ownIncarnation.set(n.index, own);
      if (node.activeCount > node.config.activeViewSize) problems.push(`${n.id} active view ${node.activeCount}`);
      if (node.passiveCount > node.config.passiveViewSize) problems.push(`${n.id} passive view ${node.passiveCount}`);
      const known = new Set([...node.activeView(), ...node.passiveView()]);
      for (const peer of known) {
        if (peer.startsWith('forged')) problems.push(`${n.id} holds forged ${peer}`);
        const state = node.peerState(peer);
        const key = `${n.id}>${peer}`;
        if (state && state.incarnation < (heldIncarnation.get(key) ?? -1))
          problems.push(`${key} incarnation went back`);
        if (state) heldIncarnation.set(key, state.incarnation);
      }
      // A peer dropped from the views is forgotten; learned again later, it starts afresh.
      const prefix = `${n.id}>`;
      for (const key of heldIncarnation.keys()) {
        if (key.startsWith(prefix) && !known.has(key.slice(prefix.length))) heldIncarnation.delete(key);
      }
      if (problems.length > 0) throw new Error(problems.join('; '));
    },
  });
  // Forgeries arrive from outside the simulated network, at their times.
  const forgeries = [...s.forgeries].sort((a, b) => a[0] - b[0]);
  for (const [atS, n, kind] of forgeries) {
    sim.runUntil(atS * 1_000);
    const live = sim.nodes.filter((x) => x.node);
    if (live.length > 0) sim.inject(live[n % live.length], forgedMessage(kind, n));
  }
  sim.run();
  const { fraction, components } = sim.largestComponent();
  expect({ components, fraction }).toEqual({ components: 1, fraction: 1 });
  expect(sim.staleNeighbourRecords()).toEqual([]);
}

/**
 * Schedules that once failed, run before the random ones. The first left two of seven peers an
 * island for good after a partition: each had dropped the other side from its views while
 * suspecting it, so the dead peers it remembered had no address to reconnect to.
 */
const FOUND: Schedule[] = [
  {
    nodes: 7,
    simSeed: 227699814,
    lifeguard: true,
    faults: [
      { kind: 'crash', atS: 139, fraction: 0.16657690688631666 },
      { kind: 'restart', atS: 36, fraction: 7.444431018046808e-44 },
      { kind: 'partition', atS: 96, fraction: 0.11903224458132515, untilS: 141 },
      { kind: 'record-update', atS: 132, fraction: 2.606478254424673e-52 },
      { kind: 'record-update', atS: 135, fraction: 1.6629588482647338e-94 },
      {
        kind: 'slow',
        atS: 112,
        fraction: 1.1516225941202743e-275,
        stallProbability: 1.9445975360350913e-236,
        maxStallMs: 2420,
        tickMs: 1000,
        untilS: 133,
      },
    ],
    forgeries: [
      [52, 2147483629, 'push-pull'],
      [34, 1816043284, 'shuffle'],
      [147, 1600400626, 'introduce'],
      [115, 2052746625, 'join'],
      [144, 375812615, 'push-pull'],
      [23, 9, 'neighbor'],
      [145, 21, 'alive'],
      [133, 252525993, 'alive'],
    ],
  },
];

describe('membership invariants over random fault schedules', () => {
  it('hold for every schedule', () => {
    fc.assert(fc.property(schedule, runSchedule), {
      seed,
      numRuns: 25,
      endOnFailure: true,
      examples: FOUND.map((s) => [s]),
    });
  });
});
