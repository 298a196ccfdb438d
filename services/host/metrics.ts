/**
 * grapevine_host_* metrics. Protocol counters live in the core's stats (it does no I/O) and are
 * read at scrape time; transport counters are counted where the bytes move.
 */
import { Counter, Gauge } from 'prom-client';
import { BatchedCounter } from '../common/batched-counter';
import { Registry } from '../common/metrics';
import type { MembershipNode, MembershipStats } from '../membership';

export type BootstrapSource = 'cache' | 'static' | 'dns' | 'directory';

export interface HostMetrics {
  /** Counted per message: batched (see BatchedCounter). */
  readonly messagesSent: BatchedCounter<'type'>;
  readonly messagesReceived: BatchedCounter<'type'>;
  readonly bytesSent: BatchedCounter<'type'>;
  readonly bytesReceived: BatchedCounter<'type'>;
  readonly callFailures: Counter<'type' | 'code'>;
  readonly unroutable: Counter<'type'>;
  readonly bootstrapAttempts: Counter<'source' | 'outcome'>;
  readonly isolated: Gauge;
  readonly directMessages: Counter<'direction'>;
  readonly receiveDropped: Counter;
  readonly receivers: Gauge;
  readonly rateLimited: Counter;
  readonly directoryRegistrations: Counter<'outcome'>;
  readonly cacheWrites: Counter<'outcome'>;
}

/** Core stats exported as counters: name suffix, help, and the stat it reads. */
const CORE_COUNTERS: readonly [string, string, keyof MembershipStats][] = [
  ['probes_total', 'Direct probes (pings) of active neighbours.', 'probes'],
  ['probe_failures_total', 'Probes that got no ack, direct or indirect, in time.', 'probeFailures'],
  ['indirect_probes_total', 'Probes that asked relays for indirect pings.', 'indirectProbes'],
  ['nacks_sent_total', 'Nacks sent as a relay whose target did not answer (Lifeguard).', 'nacksSent'],
  ['suspicions_total', 'Suspicions this host started.', 'suspicionsStarted'],
  ['refutations_total', 'Suspicions of this host it refuted with a higher incarnation.', 'refutations'],
  ['deaths_total', 'Peers this host declared dead after their suspicion timed out.', 'deathsDeclared'],
  [
    'records_rejected_bad_signature_total',
    'Relayed records dropped because they did not verify.',
    'recordsRejectedBadSignature',
  ],
  ['records_rejected_stale_total', 'Relayed records dropped because a newer seq was known.', 'recordsRejectedStale'],
  ['floods_delivered_total', 'Flooded messages delivered to this host (first copy).', 'floodsDelivered'],
  ['flood_duplicates_total', 'Flooded message copies dropped as duplicates.', 'floodDuplicates'],
  [
    'flood_grafts_total',
    'Floods asked of a neighbour that announced them, after the flood tree missed this host.',
    'floodGrafts',
  ],
  ['neighbor_requests_total', 'Requests to passive peers to become active neighbours.', 'neighborRequests'],
  ['referrals_total', 'Neighbour requests refused with a referral to another peer short of neighbours.', 'referrals'],
  [
    'judgements_held_total',
    'Timer runs so late (a paused or overloaded host) that verdicts waited for the messages already received.',
    'judgementsHeld',
  ],
];

export function createHostMetrics(registry: Registry, node: () => MembershipNode | undefined): HostMetrics {
  const registers = [registry];
  for (const [suffix, help, stat] of CORE_COUNTERS) {
    new Counter({
      name: `grapevine_host_${suffix}`,
      help,
      registers,
      collect() {
        const n = node();
        if (!n) return;
        this.reset();
        this.inc(n.stats[stat]);
      },
    });
  }
  new Gauge({
    name: 'grapevine_host_view_peers',
    help: 'Peers in the active view (neighbours probed and flooded to) and the passive view (candidates).',
    labelNames: ['view'],
    registers,
    collect() {
      const n = node();
      if (!n) return;
      this.set({ view: 'active' }, n.activeCount);
      this.set({ view: 'passive' }, n.passiveCount);
    },
  });
  new Gauge({
    name: 'grapevine_host_awareness_score',
    help: 'Lifeguard local health: 0 is healthy; higher slows this host’s own judgements.',
    registers,
    collect() {
      const n = node();
      if (n) this.set(n.awarenessScore);
    },
  });
  new Gauge({
    name: 'grapevine_host_incarnation',
    help: 'This host’s SWIM incarnation: it grows each time the host refutes a suspicion of itself.',
    registers,
    collect() {
      const n = node();
      if (n) this.set(n.incarnation);
    },
  });
  const byType = (name: string, help: string) => new Counter({ name, help, labelNames: ['type'], registers });
  const perMessage = (name: string, help: string) =>
    new BatchedCounter({ name, help, labelNames: ['type'], registers });
  return {
    messagesSent: perMessage('grapevine_host_messages_sent_total', 'Peer calls sent, by type.'),
    messagesReceived: perMessage('grapevine_host_messages_received_total', 'Peer calls received, by type.'),
    bytesSent: perMessage('grapevine_host_sent_bytes_total', 'Encoded bytes of peer calls sent, by type.'),
    bytesReceived: perMessage('grapevine_host_received_bytes_total', 'Encoded bytes of peer calls received, by type.'),
    callFailures: new Counter({
      name: 'grapevine_host_call_failures_total',
      help: 'Peer calls that failed (deadline, unreachable, refused), by type and gRPC code. Lost calls are lost packets to the protocol.',
      labelNames: ['type', 'code'],
      registers,
    }),
    unroutable: answersDropped(
      byType(
        'grapevine_host_answers_dropped_total',
        'Answers the core produced after the call that asked had already ended, by type.',
      ),
    ),
    bootstrapAttempts: new Counter({
      name: 'grapevine_host_bootstrap_attempts_total',
      help: 'Bootstrap attempts by source (cache, static, dns, directory) and outcome: ok, empty (named no peer), unreachable (none answered), no_neighbor (answered, no link made), error.',
      labelNames: ['source', 'outcome'],
      registers,
    }),
    isolated: new Gauge({
      name: 'grapevine_host_isolated',
      help: '1 while the host knows no live peer and has bootstrap sources to try; 0 otherwise.',
      registers,
    }),
    directMessages: new Counter({
      name: 'grapevine_host_direct_messages_total',
      help: 'Direct (Send) application messages, by direction (sent, received).',
      labelNames: ['direction'],
      registers,
    }),
    receiveDropped: new Counter({
      name: 'grapevine_host_receive_dropped_total',
      help: 'Messages dropped for a Receive stream that did not keep up.',
      registers,
    }),
    receivers: new Gauge({ name: 'grapevine_host_receivers', help: 'Open Receive streams.', registers }),
    rateLimited: new Counter({
      name: 'grapevine_host_rate_limited_total',
      help: 'Peer calls refused with RESOURCE_EXHAUSTED because their sender exceeded its rate.',
      registers,
    }),
    directoryRegistrations: new Counter({
      name: 'grapevine_host_directory_registrations_total',
      help: 'Directory Register and Renew calls by outcome (registered, renewed, lost, error).',
      labelNames: ['outcome'],
      registers,
    }),
    cacheWrites: new Counter({
      name: 'grapevine_host_peer_cache_writes_total',
      help: 'Peer cache saves by outcome (ok, error).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}

/**
 * The answers that travel only on their call (an ack, a nack, a refusal) start at zero, so a host
 * that has dropped none shows 0 rather than no series at all.
 */
function answersDropped(counter: Counter<'type'>): Counter<'type'> {
  for (const type of ['ack', 'nack', 'neighbor-reply']) counter.inc({ type }, 0);
  return counter;
}
