/**
 * Membership configuration: one `defaultConfig()` that sets every field, LAN / WAN / local
 * profiles that start from it and override a few, validated once and frozen.
 *
 * Every field carries its unit in its name. Each default is a named constant next to the field
 * it feeds; the field's comment says what formula it enters and what goes wrong when it is set
 * too high or too low.
 */
import { z } from 'zod';

// ---- defaults (LAN profile; probe interval as in memberlist's DefaultLANConfig) -----------------

/** → expectedPeers. */
export const DEFAULT_EXPECTED_PEERS = 10_000;
/** → activeRandomWalkLengthHops (HyParView ARWL). */
export const DEFAULT_ACTIVE_RANDOM_WALK_LENGTH_HOPS = 6;
/** → passiveRandomWalkLengthHops (HyParView PRWL). */
export const DEFAULT_PASSIVE_RANDOM_WALK_LENGTH_HOPS = 3;
/** → passiveToActiveRatio. */
export const DEFAULT_PASSIVE_TO_ACTIVE_RATIO = 6;
/** → shuffleIntervalMs. */
export const DEFAULT_SHUFFLE_INTERVAL_MS = 30_000;
/** → shuffleActiveCount. */
export const DEFAULT_SHUFFLE_ACTIVE_COUNT = 3;
/** → shufflePassiveCount. */
export const DEFAULT_SHUFFLE_PASSIVE_COUNT = 4;
/** → shuffleWalkLengthHops. */
export const DEFAULT_SHUFFLE_WALK_LENGTH_HOPS = 3;
/** → maxPeersPerAddressGroup. */
export const DEFAULT_MAX_PEERS_PER_ADDRESS_GROUP = 2;
/** → neighborRequestTimeoutMs. */
export const DEFAULT_NEIGHBOR_REQUEST_TIMEOUT_MS = 1_000;
/** → refusalsBeforeUrgentNeighbor. */
export const DEFAULT_REFUSALS_BEFORE_URGENT_NEIGHBOR = 5;
/** → probeIntervalMs. */
export const DEFAULT_PROBE_INTERVAL_MS = 1_000;
/** → probeTimeoutMs. */
export const DEFAULT_PROBE_TIMEOUT_MS = 500;
/** → indirectChecks. */
export const DEFAULT_INDIRECT_CHECKS = 3;
/** → awarenessMaxMultiplier. */
export const DEFAULT_AWARENESS_MAX_MULTIPLIER = 8;
/** → suspicionMinMs. */
export const DEFAULT_SUSPICION_MIN_MS = 4_000;
/** → suspicionMaxMs. */
export const DEFAULT_SUSPICION_MAX_MS = 16_000;
/** → suspicionConfirmations. */
export const DEFAULT_SUSPICION_CONFIRMATIONS = 3;
/** → retransmitMultiplier. */
export const DEFAULT_RETRANSMIT_MULTIPLIER = 3;
/** → maxPiggybackUpdates. */
export const DEFAULT_MAX_PIGGYBACK_UPDATES = 6;
/** → broadcastQueueLimit. */
export const DEFAULT_BROADCAST_QUEUE_LIMIT = 256;
/** → pushPullIntervalMs. */
export const DEFAULT_PUSH_PULL_INTERVAL_MS = 20_000;
/** → floodTtlHops. */
export const DEFAULT_FLOOD_TTL_HOPS = 128;
/** → floodCacheSize. */
export const DEFAULT_FLOOD_CACHE_SIZE = 4_096;
/** → floodAnnounceIntervalMs. */
export const DEFAULT_FLOOD_ANNOUNCE_INTERVAL_MS = 500;
/** → floodGraftWaitMs. */
export const DEFAULT_FLOOD_GRAFT_WAIT_MS = 100;
/** → introductionSampleSize. */
export const DEFAULT_INTRODUCTION_SAMPLE_SIZE = 8;
/** → introductionFanout. */
export const DEFAULT_INTRODUCTION_FANOUT = 2;
/** → deadPeerMemoryMs. */
export const DEFAULT_DEAD_PEER_MEMORY_MS = 600_000;
/** → reconnectIntervalMs. */
export const DEFAULT_RECONNECT_INTERVAL_MS = 30_000;
/** → deadPeerMemorySize. */
export const DEFAULT_DEAD_PEER_MEMORY_SIZE = 256;

/**
 * Active view size for an expected network size: HyParView's log10(N) + 1, kept within 4..8.
 * 10 peers → 4, 10,000 → 5, 10,000,000 → 8. It depends on the *expected* size only, so a view
 * never grows with the network it is in.
 */
export function activeViewSizeFor(expectedPeers: number): number {
  return Math.min(8, Math.max(4, Math.ceil(Math.log10(Math.max(10, expectedPeers))) + 1));
}

/**
 * Updates are relayed at most retransmitMultiplier · ceil(log10(expectedPeers + 1)) times by each
 * peer (memberlist's retransmit limit, with the expected size instead of the current one).
 */
export function retransmitLimit(config: Pick<MembershipConfig, 'retransmitMultiplier' | 'expectedPeers'>): number {
  return config.retransmitMultiplier * Math.max(1, Math.ceil(Math.log10(config.expectedPeers + 1)));
}

const ms = (min: number, max: number) => z.number().int().min(min).max(max);
const count = (min: number, max: number) => z.number().int().min(min).max(max);

const schema = z
  .object({
    /**
     * Peers, default 10,000. How large the network is expected to grow; feeds the default view
     * sizes (activeViewSizeFor) and the retransmit limit. Too low: views too small to stay
     * connected through mass failures. Too high: more traffic per peer than needed.
     */
    expectedPeers: count(1, 100_000_000),
    /**
     * Peers, default activeViewSizeFor(expectedPeers) (5 at 10,000). The peers this one keeps
     * links with, probes and floods to; each flood arrives about this many times. Too low: the
     * overlay splits when peers fail. Too high: more probes, duplicates and bytes per peer.
     */
    activeViewSize: count(2, 32),
    /**
     * Peers, default passiveToActiveRatio · activeViewSize (30). Candidates to replace failed
     * active peers, kept fresh by shuffles. Too low: repairs run out of candidates after mass
     * failures. Too high: more stale entries and memory, no gain.
     */
    passiveViewSize: count(2, 1_024),
    /**
     * Hops, default 6. A join's random walk length (ForwardJoin TTL); where it ends the newcomer
     * gains an active link. Too low: newcomers cluster near their contact. Too high: slow joins.
     */
    activeRandomWalkLengthHops: count(1, 32),
    /**
     * Hops, default 3. At this remaining TTL a ForwardJoin also puts the newcomer in a passive
     * view. Must be below activeRandomWalkLengthHops.
     */
    passiveRandomWalkLengthHops: count(0, 31),
    /**
     * Milliseconds, default 30,000. How often a peer exchanges a sample of its views with a
     * random peer (HyParView shuffle); each shuffle moves about 1.6 kB per hop. Too high: passive views go stale, repairs hit dead peers.
     * Too low: traffic for little gain.
     */
    shuffleIntervalMs: ms(100, 3_600_000),
    /** Peers, default 3. Active peers included in a shuffle. */
    shuffleActiveCount: count(0, 32),
    /** Peers, default 4. Passive peers included in a shuffle. */
    shufflePassiveCount: count(0, 256),
    /** Hops, default 3. How far a shuffle walks before it is answered. */
    shuffleWalkLengthHops: count(0, 16),
    /**
     * Peers, default 2. At most this many peers of one address group (/24 for IPv4, /48 for
     * IPv6, a host name on its own) per view, so one source cannot fill a view with fakes. Too
     * low: small networks on one subnet cannot fill their views. Too high: eclipse attacks get
     * cheaper.
     */
    maxPeersPerAddressGroup: count(1, 64),
    /**
     * Milliseconds, default 1,000. How long a Neighbor or Join request waits for an answer before
     * the candidate is dropped and another is tried. Too low: slow links never join. Too high:
     * repairs stall on dead candidates.
     */
    neighborRequestTimeoutMs: ms(10, 600_000),
    /**
     * Requests, default 5. A peer whose active view is short and whose neighbour requests were
     * refused this many times in a row (every candidate is full) asks the next one urgently, which
     * makes that candidate drop a neighbour for it: the hole moves on until it meets another and
     * both close. Without it two short neighbours of each other stay short for good. Too low:
     * links churn; too high: views stay short longer.
     */
    refusalsBeforeUrgentNeighbor: count(1, 1_000),
    /**
     * Milliseconds, default 1,000. One active peer is probed per interval, round robin, so each
     * is probed every activeViewSize · probeIntervalMs · (awareness + 1). Too high: slow
     * detection. Too low: probe traffic, and slow peers get suspected more.
     */
    probeIntervalMs: ms(10, 600_000),
    /**
     * Milliseconds, default 500. Wait for a direct ack before asking indirectChecks peers to
     * probe; scaled by (awareness + 1). Must be below probeIntervalMs; should be above the
     * network's p99 round trip, or healthy peers get indirect probes.
     */
    probeTimeoutMs: ms(1, 600_000),
    /**
     * Peers, default 3. Peers asked to ping a target that missed the direct ack. Too low: a lost
     * packet turns into a suspicion. Too high: traffic on every failed probe.
     */
    indirectChecks: count(0, 16),
    /**
     * Multiplier, default 8 (Lifeguard's local health, memberlist's AwarenessMaxMultiplier). A
     * peer that misses nacks or has to refute scales its probe interval and timeout by up to
     * (this + 1). Too low: a struggling peer keeps accusing healthy ones. Too high: a peer that
     * was briefly unhealthy detects failures late for a long time.
     */
    awarenessMaxMultiplier: count(0, 64),
    /**
     * Milliseconds, default 4,000. The shortest suspicion, reached with suspicionConfirmations
     * independent confirmations. Should exceed a slow peer's longest stall plus a round trip, or a
     * live but stalled peer cannot refute in time. Too high: slow detection.
     */
    suspicionMinMs: ms(1, 3_600_000),
    /**
     * Milliseconds, default 16,000. The suspicion a lone accuser waits (Lifeguard: 4x the
     * minimum here, memberlist uses 6x). Shrinks towards suspicionMinMs as
     * max − (max − min) · log(C + 1) / log(K + 1). Too low: one confused peer kills healthy ones.
     * Too high: a failure nobody confirms is detected late.
     */
    suspicionMaxMs: ms(1, 3_600_000),
    /**
     * Confirmations, default 3 (K in the formula above). Independent suspicions that bring the
     * timeout down to suspicionMinMs; capped by how many other neighbours the suspect is known
     * to have.
     */
    suspicionConfirmations: count(0, 32),
    /**
     * Multiplier, default 3 (λ). Each update is piggybacked at most
     * λ · ceil(log10(expectedPeers + 1)) times by each peer. Too low: updates die out before they
     * reach the peers that care. Too high: bigger messages.
     */
    retransmitMultiplier: count(1, 32),
    /** Updates, default 6. Most updates piggybacked on one message. */
    maxPiggybackUpdates: count(0, 64),
    /** Updates, default 256. Queued updates kept; past it the most-sent are dropped first. */
    broadcastQueueLimit: count(1, 65_536),
    /**
     * Milliseconds, default 20,000. Anti-entropy: how often a peer swaps its own record and its
     * active neighbours' records with a random neighbour. It is how a missed record update is
     * repaired and how a peer learns its neighbours' neighbours (who to ask for confirmations).
     * Too high: stale records linger. Too low: bytes (about 6 records each way per exchange).
     */
    pushPullIntervalMs: ms(100, 3_600_000),
    /**
     * Hops, default 128. TTL for floods started here. Must exceed the longest path of the flood
     * tree, not the overlay's diameter (about 8 at 10,000 peers with 5 neighbours): once the tree
     * has formed a flood follows its links, and in the simulator the last peer was reached up to
     * 38 hops out at 10,000 peers (16 already at 1,000), and up to 67 in the 20 s after a healed
     * partition (docs/scenarios/floods-after-heal.json). Below that, far peers are missed;
     * duplicates are suppressed by id, not by TTL.
     */
    floodTtlHops: count(1, 255),
    /**
     * Messages, default 4,096. Flood ids remembered for duplicate suppression. Too low: a flood
     * that is still circulating when its id is forgotten gets delivered twice.
     */
    floodCacheSize: count(16, 1_048_576),
    /**
     * Milliseconds, default 500. Floods travel a tree of links (Plumtree); over the links off it
     * a peer announces the ids of the floods it got, batched this often. A peer the tree missed
     * (a tree link just failed) gets its flood about this much later. Too low: an announcement
     * per flood per link, as many messages as flooding every link; too high: slow repair.
     */
    floodAnnounceIntervalMs: ms(1, 600_000),
    /**
     * Milliseconds, default 100. How long a peer announced a flood it has not got waits for the
     * tree to bring it before it asks the announcer (a graft, which puts that link back on the
     * tree). Too low: grafts for floods still on their way, and links churn on and off the tree;
     * too high: slow repair.
     */
    floodGraftWaitMs: ms(1, 600_000),
    /** Records, default 8. How many records a member hands a newcomer it introduces. */
    introductionSampleSize: count(1, 256),
    /** Peers, default 2. How many of its active peers a member tells about a newcomer. */
    introductionFanout: count(0, 32),
    /**
     * Milliseconds, default 600,000. How long a dead peer is remembered: stale copies of its
     * record travelling in shuffles do not bring it back, and it is retried now and then
     * (reconnectIntervalMs). Too low: no healing after long partitions. Too high: more retries of
     * peers that are really gone.
     */
    deadPeerMemoryMs: ms(0, 86_400_000),
    /**
     * Milliseconds, default 30,000. How often a peer retries one remembered dead peer (Serf's
     * reconnect): a peer declared dead behind a partition is alive again when it heals, and the
     * retry links the two sides. Too high: halves stay apart longer. Too low: traffic to the dead.
     */
    reconnectIntervalMs: ms(100, 86_400_000),
    /** Peers, default 256. Most dead peers remembered at once. */
    deadPeerMemorySize: count(0, 1_000_000),
    /**
     * Lifeguard on (default) or off. Off gives plain SWIM with a fixed suspicion of
     * suspicionMinMs, no local health, no nacks and no telling the suspect first: for comparison
     * in the simulator only.
     */
    lifeguard: z.boolean(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (c.probeTimeoutMs >= c.probeIntervalMs) {
      problem(
        'probeTimeoutMs',
        `probeTimeoutMs (${c.probeTimeoutMs}) must be below probeIntervalMs (${c.probeIntervalMs})`,
      );
    }
    if (c.suspicionMinMs > c.suspicionMaxMs) {
      problem(
        'suspicionMaxMs',
        `suspicionMaxMs (${c.suspicionMaxMs}) must be at least suspicionMinMs (${c.suspicionMinMs})`,
      );
    }
    if (c.passiveViewSize < c.activeViewSize) {
      problem(
        'passiveViewSize',
        `passiveViewSize (${c.passiveViewSize}) must be at least activeViewSize (${c.activeViewSize})`,
      );
    }
    if (c.passiveRandomWalkLengthHops >= c.activeRandomWalkLengthHops) {
      problem(
        'passiveRandomWalkLengthHops',
        `passiveRandomWalkLengthHops (${c.passiveRandomWalkLengthHops}) must be below activeRandomWalkLengthHops (${c.activeRandomWalkLengthHops})`,
      );
    }
    if (c.shuffleActiveCount + c.shufflePassiveCount + 1 > c.passiveViewSize) {
      problem(
        'shufflePassiveCount',
        `a shuffle (1 + shuffleActiveCount + shufflePassiveCount) must fit in passiveViewSize (${c.passiveViewSize})`,
      );
    }
  });

export type MembershipConfig = Readonly<z.infer<typeof schema>>;
export type ConfigOverrides = Partial<z.infer<typeof schema>>;

export class MembershipConfigError extends Error {
  override readonly name = 'MembershipConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid membership config: ${problems.join('; ')}`);
  }
}

/** The unchecked default values; expectedPeers decides the view sizes. */
function defaults(expectedPeers: number): z.infer<typeof schema> {
  const activeViewSize = activeViewSizeFor(expectedPeers);
  return {
    expectedPeers,
    activeViewSize,
    passiveViewSize: DEFAULT_PASSIVE_TO_ACTIVE_RATIO * activeViewSize,
    activeRandomWalkLengthHops: DEFAULT_ACTIVE_RANDOM_WALK_LENGTH_HOPS,
    passiveRandomWalkLengthHops: DEFAULT_PASSIVE_RANDOM_WALK_LENGTH_HOPS,
    shuffleIntervalMs: DEFAULT_SHUFFLE_INTERVAL_MS,
    shuffleActiveCount: DEFAULT_SHUFFLE_ACTIVE_COUNT,
    shufflePassiveCount: DEFAULT_SHUFFLE_PASSIVE_COUNT,
    shuffleWalkLengthHops: DEFAULT_SHUFFLE_WALK_LENGTH_HOPS,
    maxPeersPerAddressGroup: DEFAULT_MAX_PEERS_PER_ADDRESS_GROUP,
    neighborRequestTimeoutMs: DEFAULT_NEIGHBOR_REQUEST_TIMEOUT_MS,
    refusalsBeforeUrgentNeighbor: DEFAULT_REFUSALS_BEFORE_URGENT_NEIGHBOR,
    probeIntervalMs: DEFAULT_PROBE_INTERVAL_MS,
    probeTimeoutMs: DEFAULT_PROBE_TIMEOUT_MS,
    indirectChecks: DEFAULT_INDIRECT_CHECKS,
    awarenessMaxMultiplier: DEFAULT_AWARENESS_MAX_MULTIPLIER,
    suspicionMinMs: DEFAULT_SUSPICION_MIN_MS,
    suspicionMaxMs: DEFAULT_SUSPICION_MAX_MS,
    suspicionConfirmations: DEFAULT_SUSPICION_CONFIRMATIONS,
    retransmitMultiplier: DEFAULT_RETRANSMIT_MULTIPLIER,
    maxPiggybackUpdates: DEFAULT_MAX_PIGGYBACK_UPDATES,
    broadcastQueueLimit: DEFAULT_BROADCAST_QUEUE_LIMIT,
    pushPullIntervalMs: DEFAULT_PUSH_PULL_INTERVAL_MS,
    floodTtlHops: DEFAULT_FLOOD_TTL_HOPS,
    floodCacheSize: DEFAULT_FLOOD_CACHE_SIZE,
    floodAnnounceIntervalMs: DEFAULT_FLOOD_ANNOUNCE_INTERVAL_MS,
    floodGraftWaitMs: DEFAULT_FLOOD_GRAFT_WAIT_MS,
    introductionSampleSize: DEFAULT_INTRODUCTION_SAMPLE_SIZE,
    introductionFanout: DEFAULT_INTRODUCTION_FANOUT,
    deadPeerMemoryMs: DEFAULT_DEAD_PEER_MEMORY_MS,
    deadPeerMemorySize: DEFAULT_DEAD_PEER_MEMORY_SIZE,
    reconnectIntervalMs: DEFAULT_RECONNECT_INTERVAL_MS,
    lifeguard: true,
  };
}

/**
 * Validates and freezes a config. When `expectedPeers` is overridden and the view sizes are not,
 * the view sizes follow it. Contradictory settings are rejected, never silently adjusted.
 */
export function makeConfig(overrides: ConfigOverrides = {}, base: ConfigOverrides = {}): MembershipConfig {
  const expectedPeers = overrides.expectedPeers ?? base.expectedPeers ?? DEFAULT_EXPECTED_PEERS;
  const merged = { ...defaults(expectedPeers), ...withoutViewSizes(base, overrides), ...overrides };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    throw new MembershipConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || 'config'}: ${issue.message}`),
    );
  }
  return Object.freeze(parsed.data);
}

// A profile's view sizes were derived from its own expectedPeers; when the caller changes
// expectedPeers they must be derived again rather than kept.
function withoutViewSizes(base: ConfigOverrides, overrides: ConfigOverrides): ConfigOverrides {
  if (overrides.expectedPeers === undefined) return base;
  const { activeViewSize: _a, passiveViewSize: _p, ...rest } = base;
  return rest;
}

/** Every field at its default: the LAN profile. */
export function defaultConfig(overrides: ConfigOverrides = {}): MembershipConfig {
  return makeConfig(overrides);
}

/** A data centre: sub-millisecond round trips, rare loss. The default. */
export function lanConfig(overrides: ConfigOverrides = {}): MembershipConfig {
  return makeConfig(overrides);
}

/**
 * The internet: round trips up to a few hundred milliseconds, more loss, more patience (the
 * memberlist WAN profile's probe interval and timeout).
 */
export const WAN_PROFILE: ConfigOverrides = Object.freeze({
  probeIntervalMs: 5_000,
  probeTimeoutMs: 3_000,
  suspicionMinMs: 20_000,
  suspicionMaxMs: 80_000,
  neighborRequestTimeoutMs: 5_000,
  shuffleIntervalMs: 60_000,
  pushPullIntervalMs: 60_000,
  reconnectIntervalMs: 60_000,
  floodAnnounceIntervalMs: 2_000,
  floodGraftWaitMs: 1_000,
});

export function wanConfig(overrides: ConfigOverrides = {}): MembershipConfig {
  return makeConfig(overrides, WAN_PROFILE);
}

/** One machine (tests, `grapevine dev`): loopback round trips, quick judgements. */
export const LOCAL_PROFILE: ConfigOverrides = Object.freeze({
  expectedPeers: 100,
  probeIntervalMs: 1_000,
  probeTimeoutMs: 200,
  suspicionMinMs: 2_000,
  suspicionMaxMs: 8_000,
  neighborRequestTimeoutMs: 500,
  shuffleIntervalMs: 5_000,
  pushPullIntervalMs: 10_000,
  reconnectIntervalMs: 10_000,
  maxPeersPerAddressGroup: 64,
});

export function localConfig(overrides: ConfigOverrides = {}): MembershipConfig {
  return makeConfig(overrides, LOCAL_PROFILE);
}

export const PROFILES = {
  lan: lanConfig,
  wan: wanConfig,
  local: localConfig,
} as const;

export type ProfileName = keyof typeof PROFILES;
