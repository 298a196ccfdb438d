/**
 * Grapevine introducers: joins and their dial-backs, introductions, and how the introducers keep
 * the directory true (probing their share of the members, evicting the dead). Their gossip
 * membership shows on the host dashboard.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  falling,
  instanceVariable,
  NETWORK_AND_INSTANCE,
  networkVariable,
  newDashboard,
  PanelIds,
  processPanels,
  q,
  quantile,
  rate,
  rising,
  row,
  timeseriesPanel,
} from './panels';

/** The network and instances chosen on the dashboard: every series here carries both labels. */
const SELECTED = NETWORK_AND_INSTANCE;

export function introducerDashboard(): dashboard.Dashboard {
  const ids = new PanelIds();
  const builder = newDashboard({
    uid: 'grapevine-introducer',
    title: 'Grapevine / Introducer',
    description: 'Joins, dial-backs and introductions, and the probing that keeps the directory true.',
    variables: [
      networkVariable(
        'grapevine_introducer_replicas',
        'Networks the introducers serve (each labels its series with its own).',
      ),
      instanceVariable('grapevine_introducer_replicas{network=~"$network"}'),
    ],
  });

  builder.withRow(row('Joins'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Joins by outcome',
      description:
        'Join calls by outcome. unreachable: the dial-back to the newcomer’s advertised address failed; wrong_peer: another peer answered there; duplicate: that identity is live elsewhere; overloaded: too many dial-backs at once. No ok at all while joins come in fires GrapevineNoJoins.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [q(`sum by (outcome) (${rate('grapevine_introducer_joins_total', SELECTED)})`, '{{outcome}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Join success ratio',
      description:
        'Share of joins that got in. A slow decline usually comes from newcomers behind NAT advertising addresses nobody can dial; a cliff from the directory refusing writes.',
      unit: 'percentunit',
      min: 0,
      max: 1,
      width: 8,
      thresholds: falling(0.5),
      queries: [
        q(
          `sum(${rate('grapevine_introducer_joins_total', `outcome="ok", ${SELECTED}`)}) / sum(${rate('grapevine_introducer_joins_total', SELECTED)})`,
          'ok',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Dial-back latency',
      description:
        'Time from dialling a newcomer back to its answer, by outcome. Failed dial-backs that take the whole timeout hold a slot each: many in flight then make joins answer overloaded.',
      unit: 's',
      min: 0,
      width: 8,
      thresholds: rising(1),
      queries: [
        q(quantile(0.5, 'grapevine_introducer_dial_back_seconds', SELECTED, ['outcome']), 'p50 {{outcome}}'),
        q(quantile(0.99, 'grapevine_introducer_dial_back_seconds', SELECTED, ['outcome']), 'p99 {{outcome}}'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Dial-backs in flight',
      description:
        'Dial-backs waiting for a newcomer to answer, per introducer (limit maxConcurrentDialBacks, 64 by default; joins past it are refused). Near the limit: newcomers answer slowly or not at all (a join flood from unreachable addresses?); check dial-back outcomes, then raise the limit or add introducers.',
      unit: 'short',
      min: 0,
      // 75% and 100% of the default maxConcurrentDialBacks (services/introducer/config.ts).
      thresholds: rising(48, 64),
      width: 8,
      queries: [q(`grapevine_introducer_dial_backs_in_flight{${SELECTED}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Introductions and deaths reported',
      description:
        'Members told about a newcomer, and dead members evicted from the directory before their lease ran out. No introductions while joins succeed: newcomers get a sample but nobody learns of them.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        q(`sum(${rate('grapevine_introducer_introductions_total', SELECTED)})`, 'introductions'),
        q(`sum(${rate('grapevine_introducer_deaths_reported_total', SELECTED)})`, 'deaths reported'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Directory writes by op and outcome',
      description:
        'What the introducers write to the directory: registrations of newcomers, renewals, record updates learned by gossip, evictions of the dead. Outcomes other than ok carry the gRPC code: UNAVAILABLE is the directory or its Redis.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        q(
          `sum by (op, outcome) (${rate('grapevine_introducer_directory_writes_total', SELECTED)})`,
          '{{op}} {{outcome}}',
        ),
      ],
    }),
  );

  builder.withRow(row('Keeping the directory true'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Member probes by outcome',
      description:
        'Probes of the directory members in each introducer’s share. failed ones turn into suspects; a share where most probes fail means the introducer cannot reach the hosts (network policy, a partition).',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [q(`sum by (outcome) (${rate('grapevine_introducer_member_probes_total', SELECTED)})`, '{{outcome}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Suspects',
      description:
        'Members that failed their probes and will be evicted unless they answer, per introducer. A few come and go as hosts crash; many at once on one introducer while hosts are fine: that introducer cannot reach them (network policy, a partition, its own overload).',
      unit: 'short',
      min: 0,
      thresholds: rising(10, 50),
      width: 8,
      queries: [q(`grapevine_introducer_suspects{${SELECTED}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Probe share',
      description:
        'Each introducer’s share of the members (about 1/replicas when balanced). A share near 1 with several replicas running: the replicas do not see each other in the directory.',
      unit: 'percentunit',
      min: 0,
      max: 1,
      width: 8,
      queries: [q(`grapevine_introducer_probe_share_ratio{${SELECTED}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Entries per directory call',
      description:
        'Registrations per RegisterBatch call and lease renewals per RenewBatch call (256 at most in one). Joins that come one at a time go alone (1); renewals wait up to 100 ms for the others coming due, so theirs grows with the members in the share. Near 256: the calls are full and wait on the directory; look at its latency.',
      unit: 'short',
      min: 0,
      width: 12,
      queries: [
        q(
          `sum(${rate('grapevine_introducer_register_entries_total', SELECTED)}) / sum(${rate('grapevine_introducer_register_calls_total', SELECTED)})`,
          'registrations per call',
        ),
        q(
          `sum(${rate('grapevine_introducer_renew_entries_total', SELECTED)}) / sum(${rate('grapevine_introducer_renew_calls_total', SELECTED)})`,
          'renewals per call',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Replicas and members seen',
      description:
        'How many introducers each replica sees (itself included), the members in its copy of the directory, and the members in its share. Replicas that disagree on the count split the work wrongly for a while.',
      unit: 'short',
      min: 0,
      width: 12,
      queries: [
        q(`grapevine_introducer_replicas{${SELECTED}}`, 'replicas seen by {{instance}}'),
        q(`grapevine_introducer_directory_members{${SELECTED}}`, 'members known to {{instance}}'),
        q(`grapevine_introducer_probe_share_members{${SELECTED}}`, 'members probed by {{instance}}'),
      ],
    }),
  );

  builder.withRow(row('Process'));
  for (const panel of processPanels(ids)) builder.withPanel(panel);
  return builder.build();
}
