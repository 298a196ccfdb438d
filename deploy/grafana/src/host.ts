/**
 * Grapevine hosts: views, failure detection, gossip traffic, application messages and bootstrap.
 * Introducers are gossip members too, so their grapevine_host_* series show here as well.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  instanceVariable,
  NETWORK_AND_INSTANCE,
  networkVariable,
  newDashboard,
  PanelIds,
  processPanels,
  q,
  rate,
  rising,
  row,
  timeseriesPanel,
} from './panels';

/** The network and instances chosen on the dashboard: every series here carries both labels. */
const SELECTED = NETWORK_AND_INSTANCE;

const sumRate = (metric: string, legend: string) => q(`sum(${rate(metric, SELECTED)})`, legend);
const sumRateBy = (by: string, metric: string, legend: string) =>
  q(`sum by (${by}) (${rate(metric, SELECTED)})`, legend);

export function hostDashboard(): dashboard.Dashboard {
  const ids = new PanelIds();
  const builder = newDashboard({
    uid: 'grapevine-host',
    title: 'Grapevine / Host',
    description:
      'The port-listening peers: their views, failure detection, gossip traffic, application messages and bootstrap.',
    variables: [
      networkVariable('grapevine_host_view_peers', 'Networks the hosts serve (each labels its series with its own).'),
      instanceVariable('grapevine_host_view_peers{network=~"$network"}'),
    ],
  });

  builder.withRow(row('Views and bootstrap'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'View sizes',
      description:
        'Peers in each host’s active view (neighbours it probes and floods to) and passive view (candidates). An active view at 0 is a host cut off; one that stays below the profile’s size means too few peers or too few distinct /24s.',
      unit: 'short',
      min: 0,
      width: 8,
      queries: [q(`grapevine_host_view_peers{${SELECTED}}`, '{{instance}} {{view}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Isolated',
      description:
        '1 while a host knows no live peer and keeps trying its bootstrap sources (alert GrapevineHostIsolated after five minutes). Check its seeds, DNS seeds and whether anything can reach it.',
      unit: 'none',
      min: 0,
      max: 1,
      width: 8,
      thresholds: rising(1),
      queries: [q(`grapevine_host_isolated{${SELECTED}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Bootstrap attempts by source and outcome',
      description:
        'Tries of the peer cache, static seeds, DNS seeds and the directory. unreachable: none of the named peers answered; empty: the source named nobody (normal for the network’s first host). Only failures for minutes: fix the seed list.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [sumRateBy('source, outcome', 'grapevine_host_bootstrap_attempts_total', '{{source}} {{outcome}}')],
    }),
  );

  builder.withRow(row('Failure detection'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Probes',
      description:
        'SWIM probes of neighbours, the ones that got no ack, direct or indirect, and the indirect probes asked of relays. Failures that track indirect probes one for one: a neighbour is really gone; failures alone: probe timeouts too tight for the network.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        sumRate('grapevine_host_probes_total', 'probes'),
        sumRate('grapevine_host_probe_failures_total', 'failed'),
        sumRate('grapevine_host_indirect_probes_total', 'indirect'),
        sumRate('grapevine_host_nacks_sent_total', 'nacks sent'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Suspicions, refutations and deaths',
      description:
        'Suspicions the hosts started, suspicions of themselves they refuted, and peers they declared dead. Deaths across many hosts at once: a partition or a crash wave (alert GrapevineDeathRateSpike).',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        sumRate('grapevine_host_suspicions_total', 'suspicions'),
        sumRate('grapevine_host_refutations_total', 'refutations'),
        sumRate('grapevine_host_deaths_total', 'deaths'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Refutations per minute by host',
      description:
        'How often each host had to deny being dead. Over 1 a minute for ten minutes fires GrapevineHostFlapping: that host answers too late (CPU, event loop lag, a lossy link).',
      unit: 'short',
      min: 0,
      width: 8,
      thresholds: rising(1),
      queries: [q(`sum by (instance) (${rate('grapevine_host_refutations_total', SELECTED)}) * 60`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Awareness (local health)',
      description:
        'Lifeguard’s measure of a host’s own health: 0 is healthy, up to 8. A high score makes the host slower to judge others, so a sick host does not accuse healthy ones: find out why it misses its own deadlines.',
      unit: 'none',
      min: 0,
      width: 12,
      thresholds: rising(2, 5),
      queries: [q(`grapevine_host_awareness_score{${SELECTED}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Records rejected',
      description:
        'Relayed peer records dropped because their signature did not verify or a newer sequence was already known. Stale ones are normal under gossip; bad signatures are a buggy or hostile peer.',
      unit: 'ops',
      min: 0,
      width: 12,
      queries: [
        sumRate('grapevine_host_records_rejected_bad_signature_total', 'bad signature'),
        sumRate('grapevine_host_records_rejected_stale_total', 'stale'),
      ],
    }),
  );

  builder.withRow(row('Gossip traffic'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Messages by type',
      description:
        'Peer calls sent and received, by type. Traffic per host should stay flat as the network grows (bounded views); growth with the peer count means views are not bounded.',
      unit: 'ops',
      min: 0,
      queries: [
        sumRateBy('type', 'grapevine_host_messages_sent_total', 'sent {{type}}'),
        sumRateBy('type', 'grapevine_host_messages_received_total', 'received {{type}}'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Bytes by type',
      description:
        'Encoded bytes of peer calls sent and received, by type. Flood bytes are application payloads; the rest is the protocol’s own overhead, which should stay flat per host as the network grows. Overhead rising with the peer count: views are not bounded (check view sizes and the profile).',
      unit: 'Bps',
      min: 0,
      queries: [
        sumRateBy('type', 'grapevine_host_sent_bytes_total', 'sent {{type}}'),
        sumRateBy('type', 'grapevine_host_received_bytes_total', 'received {{type}}'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Call failures by type and code',
      description:
        'Peer calls that failed. To the protocol they are lost packets. UNAVAILABLE and DEADLINE_EXCEEDED right after a crash are expected until the peer is declared dead; RESOURCE_EXHAUSTED means a peer rate-limits this host.',
      unit: 'ops',
      min: 0,
      queries: [sumRateBy('type, code', 'grapevine_host_call_failures_total', '{{type}} {{code}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Refused and dropped',
      description:
        'Peer calls refused because their sender went over peerCallsPerSecond, and answers produced after their call had ended. A steady rate limit on a healthy network means the limit is too low for its size.',
      unit: 'ops',
      min: 0,
      queries: [
        sumRate('grapevine_host_rate_limited_total', 'rate limited'),
        sumRateBy('type', 'grapevine_host_answers_dropped_total', 'answer dropped {{type}}'),
      ],
    }),
  );

  builder.withRow(row('Application messages'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Floods delivered, duplicates and grafts',
      description:
        'Flooded messages delivered to the hosts (first copies), copies dropped as duplicates, and floods a host had to ask for after the flood tree missed it (grafts). Floods travel a tree of links: duplicates come after a link joins the tree and stop once it is pruned, and grafts follow a failed tree link. Either staying high means the active views keep changing: look at suspicions and neighbour requests.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        sumRate('grapevine_host_floods_delivered_total', 'delivered'),
        sumRate('grapevine_host_flood_duplicates_total', 'duplicates'),
        sumRate('grapevine_host_flood_grafts_total', 'grafts'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Direct messages by direction',
      description:
        'Send calls: messages hosts forwarded to a peer and messages they delivered to a receiver. Forwarded far above delivered: messages go to peers with no receiver open, or are refused (see call failures and rate limiting).',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [sumRateBy('direction', 'grapevine_host_direct_messages_total', '{{direction}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Receivers and drops',
      description:
        'Open Receive streams, and messages dropped for a receiver that did not keep up. Drops mean the local application reads too slowly: make it read faster or receive less.',
      unit: 'short',
      min: 0,
      width: 8,
      queries: [
        q(`sum(grapevine_host_receivers{${SELECTED}})`, 'receivers'),
        q(`sum(increase(grapevine_host_receive_dropped_total{${SELECTED}}[$__rate_interval]))`, 'dropped'),
      ],
    }),
  );

  builder.withRow(row('Directory lease and peer cache'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Directory lease by outcome',
      description:
        'The hosts’ Register and Renew calls. lost: a renewal found no lease and the host registered again; error: the directory did not answer. Gossip does not depend on it, but newcomers find fewer peers.',
      unit: 'ops',
      min: 0,
      queries: [sumRateBy('outcome', 'grapevine_host_directory_registrations_total', '{{outcome}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Peer cache writes by outcome',
      description:
        'Saves of the peer cache a restarted host rejoins from. Errors: the data directory is full or read-only; the host then needs seeds to come back.',
      unit: 'ops',
      min: 0,
      queries: [sumRateBy('outcome', 'grapevine_host_peer_cache_writes_total', '{{outcome}}')],
    }),
  );

  builder.withRow(row('Process'));
  for (const panel of processPanels(ids)) builder.withPanel(panel);
  return builder.build();
}
