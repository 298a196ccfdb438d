/** The transport compliance suite over the simulator's network. */
import { Simulation } from '../../services/membership/sim/simulator';
import { parseScenario } from '../../services/membership/sim/scenario';
import { describeTransportCompliance, type ComplianceCluster } from './transport-compliance';

async function simulatedCluster(size: number): Promise<ComplianceCluster> {
  const received: string[][] = Array.from({ length: size }, () => []);
  const text = new TextDecoder();
  const scenario = parseScenario({
    name: 'compliance',
    nodes: size,
    durationS: 3_600,
    profile: 'local',
    network: { latency: { kind: 'fixed', ms: 0.5 }, lossRate: 0 },
    joinRatePerS: 10,
    componentEverySample: false,
  });
  const sim = new Simulation(scenario, 7, {
    onEffects: (_sim, node, effects) => {
      for (const event of effects.events)
        if (event.type === 'flood') received[node.index].push(text.decode(event.payload));
    },
  });
  return {
    ids: sim.nodes.map((n) => n.id),
    settle: async (ms) => sim.runUntil(sim.now + ms),
    views: async (i) => {
      const node = sim.nodes[i].node;
      return { active: node?.activeView() ?? [], passive: node?.passiveView() ?? [] };
    },
    flood: async (i, payload) => {
      sim.floodFrom(sim.nodes[i], new TextEncoder().encode(payload));
    },
    received: (i) => received[i],
    crash: async (i) => sim.crash(sim.nodes[i]),
    stop: async () => {},
  };
}

describeTransportCompliance('simulated network', simulatedCluster, 30_000);
