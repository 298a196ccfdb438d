/**
 * Small networks fill every active view. HyParView alone can leave two short peers that are
 * already neighbours short for good (every other candidate is full and refuses); urgent requests
 * after repeated refusals move such a hole on until it meets the other one.
 */
import { Simulation } from '../../services/membership/sim/simulator';
import { parseScenario } from '../../services/membership/sim/scenario';

const SEEDS = Array.from({ length: 30 }, (_, i) => i + 1);

/** Seeds whose 8-node network still had a short active view after a minute. */
function shortAfterAMinute(refusalsBeforeUrgentNeighbor: number): number[] {
  return SEEDS.filter((seed) => {
    const sim = new Simulation(
      parseScenario({
        name: 'fill',
        nodes: 8,
        durationS: 120,
        profile: 'local',
        config: { refusalsBeforeUrgentNeighbor },
        network: { latency: { kind: 'fixed', ms: 0.5 }, lossRate: 0 },
        joinRatePerS: 20,
        componentEverySample: false,
      }),
      seed,
    );
    sim.runUntil(60_000);
    return sim.nodes.some((n) => n.node!.activeCount < sim.config.activeViewSize);
  });
}

test('every active view of an 8-peer network is full after a minute, for every seed', () => {
  expect(shortAfterAMinute(5)).toEqual([]);
});

test('without urgent requests some networks stay short (the case the rule exists for)', () => {
  expect(shortAfterAMinute(1_000).length).toBeGreaterThan(0);
});
