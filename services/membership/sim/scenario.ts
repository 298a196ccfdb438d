/**
 * Scenarios are data: a network, a population, a bootstrap, and a timeline of faults and
 * measurements. `grapevine sim` takes a built-in name or a JSON file of this shape.
 */
import { z } from 'zod';

const latency = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), ms: z.number().min(0) }).strict(),
  z.object({ kind: z.literal('uniform'), minMs: z.number().min(0), maxMs: z.number().min(0) }).strict(),
  z
    .object({
      kind: z.literal('lognormal'),
      medianMs: z.number().positive(),
      sigma: z.number().min(0).max(3),
      minMs: z.number().min(0).default(0),
    })
    .strict(),
]);

const at = z.number().min(0);

const timelineEvent = z.discriminatedUnion('kind', [
  /** Crash a fraction (or a count) of the live nodes at once: state lost, messages dropped. */
  z
    .object({
      kind: z.literal('crash'),
      atS: at,
      fraction: z.number().min(0).max(1).optional(),
      count: z.number().int().min(0).optional(),
    })
    .strict(),
  /** Restart a fraction of the crashed nodes: new record seq, rejoin through an introduction. */
  z.object({ kind: z.literal('restart'), atS: at, fraction: z.number().min(0).max(1).default(1) }).strict(),
  /**
   * Make a fraction of nodes slow: every tickMs, with stallProbability, the node's event loop
   * stalls for up to maxStallMs; timers and messages due meanwhile run when it ends, timers first.
   */
  z
    .object({
      kind: z.literal('slow'),
      atS: at,
      fraction: z.number().min(0).max(1),
      stallProbability: z.number().min(0).max(1).default(0.5),
      maxStallMs: z.number().min(0).default(2_000),
      tickMs: z.number().positive().default(1_000),
      untilS: at.optional(),
    })
    .strict(),
  /** Set the packet loss rate (until untilS, when it returns to the network's rate). */
  z.object({ kind: z.literal('loss'), atS: at, rate: z.number().min(0).max(1), untilS: at.optional() }).strict(),
  /** Cut the network in two (fraction on one side) until untilS. */
  z
    .object({ kind: z.literal('partition'), atS: at, fraction: z.number().min(0).max(1).default(0.5), untilS: at })
    .strict(),
  /** Nodes crash and restart at random, at these rates, until untilS. */
  z
    .object({
      kind: z.literal('churn'),
      atS: at,
      untilS: at,
      crashesPerS: z.number().min(0),
      restartsPerS: z.number().min(0),
    })
    .strict(),
  /** A fraction of the live nodes issue a newer record (as on an address change). */
  z.object({ kind: z.literal('record-update'), atS: at, fraction: z.number().min(0).max(1) }).strict(),
  /** Start floods from random live nodes; reach is measured when the run ends. */
  z
    .object({
      kind: z.literal('flood'),
      atS: at,
      count: z.number().int().min(1).default(1),
      payloadBytes: z.number().int().min(0).max(65_536).default(256),
    })
    .strict(),
  /** Measure the largest connected component of the live nodes' active views. */
  z.object({ kind: z.literal('component'), atS: at }).strict(),
]);

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    nodes: z.number().int().min(1).max(200_000),
    durationS: z.number().positive(),
    profile: z.enum(['lan', 'wan', 'local']).default('lan'),
    /** Membership config overrides on top of the profile (validated by makeConfig). */
    config: z.record(z.string(), z.union([z.number(), z.boolean()])).default({}),
    network: z
      .object({
        latency: latency.default({ kind: 'lognormal', medianMs: 0.5, sigma: 0.5, minMs: 0.1 }),
        lossRate: z.number().min(0).max(1).default(0),
      })
      .strict()
      .default({ latency: { kind: 'lognormal', medianMs: 0.5, sigma: 0.5, minMs: 0.1 }, lossRate: 0 }),
    /** Nodes join one after another at this rate, each through an introduction by a live member. */
    joinRatePerS: z.number().positive().default(1_000),
    events: z.array(timelineEvent).default([]),
    /** Time-series resolution of the report. */
    sampleEveryS: z.number().positive().default(1),
    /** Whether each sample also measures the largest component (a BFS over all views). */
    componentEverySample: z.boolean().default(true),
    /** The steady-state window for per-node traffic figures, [from, to] in seconds. */
    trafficWindowS: z.tuple([at, at]).optional(),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type TimelineEvent = z.infer<typeof timelineEvent>;

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

export function parseScenario(input: unknown): Scenario {
  const parsed = scenarioSchema.safeParse(input);
  if (!parsed.success) {
    throw new ScenarioError(
      `invalid scenario: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'scenario'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** Seconds until a network of `nodes` has joined and settled (60 s after the last join). */
export function settledAtS(nodes: number, joinRatePerS = 1_000): number {
  return Math.ceil(nodes / joinRatePerS) + 60;
}

export interface BuiltinOptions {
  readonly nodes?: number;
  readonly lifeguard?: boolean;
}

/** The built-in scenarios, by name; each is a function of the network size. */
export const BUILTIN_SCENARIOS: Readonly<Record<string, (o: BuiltinOptions) => ScenarioInput>> = {
  /**
   * A quiet network: traffic, view sizes, and floods that must reach everyone. The floods go one
   * a second, so all but the first travel the tree the first one pruned (floods started together
   * all cross every link, and would say nothing of the tree).
   */
  stable: ({ nodes = 1_000 }) => {
    const t = settledAtS(nodes);
    return {
      name: 'stable',
      description: `${nodes} nodes, no faults: traffic per node, view sizes, and 20 floods a second apart`,
      nodes,
      durationS: t + 75,
      events: Array.from({ length: 20 }, (_, k) => ({ kind: 'flood' as const, atS: t + 50 + k })),
      // Protocol traffic only: the window closes before the floods start.
      trafficWindowS: [t, t + 45],
    };
  },
  /** 1% of nodes crash at once: how soon every active neighbour of each declares it dead. */
  'crash-1pct': ({ nodes = 1_000 }) => {
    const t = settledAtS(nodes);
    return {
      name: 'crash-1pct',
      description: `${nodes} nodes, 1% crash at ${t} s: detection time`,
      nodes,
      durationS: t + 40,
      events: [{ kind: 'crash', atS: t, fraction: 0.01 }],
    };
  },
  /** 80% of nodes crash at once; 30 s later: the survivors' overlay, and a flood over it. */
  'crash-80pct': ({ nodes = 1_000 }) => {
    const t = settledAtS(nodes);
    return {
      name: 'crash-80pct',
      description: `${nodes} nodes, 80% crash at ${t} s: survivors' component and flood reach 30 s later`,
      nodes,
      durationS: t + 40,
      events: [
        { kind: 'crash', atS: t, fraction: 0.8 },
        { kind: 'component', atS: t + 30 },
        { kind: 'flood', atS: t + 30, count: 5 },
      ],
    };
  },
  /** Lifeguard's scenario: 1% loss, 10% of nodes slow, for one simulated hour. */
  lifeguard: ({ nodes = 1_000, lifeguard = true }) => {
    const t = settledAtS(nodes);
    return {
      name: lifeguard ? 'lifeguard' : 'lifeguard-off',
      description: `${nodes} nodes, 1% packet loss and 10% slow nodes for an hour, Lifeguard ${lifeguard ? 'on' : 'off'}`,
      nodes,
      durationS: t + 3_600,
      config: { lifeguard },
      sampleEveryS: 30,
      componentEverySample: false,
      events: [
        { kind: 'loss', atS: t, rate: 0.01 },
        { kind: 'slow', atS: t, fraction: 0.1, stallProbability: 0.5, maxStallMs: 2_000, tickMs: 1_000 },
      ],
    };
  },
  /** The network splits in two for 30 s, then heals. */
  partition: ({ nodes = 1_000 }) => {
    const t = settledAtS(nodes);
    return {
      name: 'partition',
      description: `${nodes} nodes split in halves for 30 s at ${t} s, then healed`,
      nodes,
      durationS: t + 150,
      events: [
        { kind: 'partition', atS: t, fraction: 0.5, untilS: t + 30 },
        { kind: 'restart', atS: t + 31, fraction: 1 },
        { kind: 'component', atS: t + 140 },
        { kind: 'flood', atS: t + 140, count: 5 },
      ],
    };
  },
  /** Nodes crash and restart continuously; then a flood must still reach everyone. */
  churn: ({ nodes = 1_000 }) => {
    const t = settledAtS(nodes);
    const rate = Math.max(1, nodes / 200);
    return {
      name: 'churn',
      description: `${nodes} nodes, ${rate} crashes and ${rate} restarts per second for 120 s`,
      nodes,
      durationS: t + 200,
      events: [
        { kind: 'churn', atS: t, untilS: t + 120, crashesPerS: rate, restartsPerS: rate },
        { kind: 'restart', atS: t + 121, fraction: 1 },
        { kind: 'record-update', atS: t + 130, fraction: 0.1 },
        { kind: 'component', atS: t + 190 },
        { kind: 'flood', atS: t + 190, count: 5 },
      ],
    };
  },
};

export function builtinScenario(name: string, options: BuiltinOptions = {}): Scenario {
  const make = BUILTIN_SCENARIOS[name];
  if (!make) {
    throw new ScenarioError(`no built-in scenario "${name}"; there are: ${Object.keys(BUILTIN_SCENARIOS).join(', ')}`);
  }
  return parseScenario(make(options));
}
