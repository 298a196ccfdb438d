/**
 * Grapevine overview: is discovery working? Peers per network, who joins and who dies, and how
 * the directory answers. The first dashboard to open; the role dashboards go deeper.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  falling,
  instanceVariable,
  NETWORK_AND_INSTANCE,
  networkVariable,
  newDashboard,
  PanelIds,
  q,
  quantile,
  rate,
  rising,
  ROLES,
  row,
  SERVER_ERROR_CODES,
  SERVICE,
  statPanel,
  timeseriesPanel,
} from './panels';

/** Titles of the panels drawn in docs/dashboard-overview.svg, in the order they are drawn. */
export const OVERVIEW_MAIN_PANELS = [
  'Peers per network',
  'Joins by outcome',
  'Suspicions, refutations and deaths',
  'Directory requests by method',
  'Non-OK answers by service, method and code',
  'p99 latency by service and method',
] as const;

const INSTANCE = 'instance=~"$instance"';
/** Host and introducer series carry their network; the directory's do not. */
const MEMBERS = NETWORK_AND_INSTANCE;
const DIRECTORY = `grpc_service="${SERVICE.directory}", ${INSTANCE}`;

export function overviewDashboard(): dashboard.Dashboard {
  const ids = new PanelIds();
  const builder = newDashboard({
    uid: 'grapevine-overview',
    title: 'Grapevine / Overview',
    description: 'Is discovery working: peers per network, joins and deaths, and how the directory answers.',
    variables: [networkVariable(), instanceVariable(`up{role=~"${ROLES}"}`)],
  });

  builder.withRow(row('Health'));
  builder.withPanel(
    statPanel(ids, {
      title: 'Instances up by role',
      description:
        'Processes Prometheus scrapes, per role. A role at 0 is down everywhere (alert GrapevineRoleDown): start with its logs. A host count below what you run means hosts crashed or cannot be scraped.',
      unit: 'none',
      thresholds: falling(1),
      queries: [q(`sum by (role) (up{role=~"${ROLES}", ${INSTANCE}})`, '{{role}}')],
    }),
  );
  builder.withPanel(
    statPanel(ids, {
      title: 'Live peers',
      description:
        'Peers holding a lease in the directory, over the selected networks. A sudden drop with hosts still up means leases are not renewed: look at the directory and Redis.',
      unit: 'short',
      queries: [q('sum(max by (network) (grapevine_directory_peers{network=~"$network"}))', 'peers')],
    }),
  );
  builder.withPanel(
    statPanel(ids, {
      title: 'Isolated hosts',
      description:
        'Hosts that know no live peer and are still trying their bootstrap sources. Anything above 0 for minutes fires GrapevineHostIsolated: check that host’s seeds, DNS seeds and reachability.',
      unit: 'none',
      thresholds: rising(1),
      queries: [q(`sum(grapevine_host_isolated{${MEMBERS}})`, 'isolated')],
    }),
  );
  builder.withPanel(
    statPanel(ids, {
      title: 'Store (Redis) up',
      description:
        'The worst of the directory replicas: 1 when every one of them reaches its store, 0 when one does not (alert GrapevineRedisUnavailable). The in-process store of `grapevine dev` is always up.',
      unit: 'none',
      thresholds: falling(1),
      mappings: [
        {
          type: dashboard.MappingType.ValueToText,
          options: { '0': { text: 'down', index: 0 }, '1': { text: 'up', index: 1 } },
        },
      ],
      queries: [q(`min(grapevine_directory_store_up{${INSTANCE}})`, 'store')],
    }),
  );

  builder.withRow(row('Membership'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[0],
      description:
        'Live peers in each network, as the directory counts them (every replica reports the whole store; the largest report is shown). A step down is a wave of expiries or evictions: compare with deaths below.',
      unit: 'short',
      min: 0,
      queries: [q('max by (network) (grapevine_directory_peers{network=~"$network"})', '{{network}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[1],
      description:
        'Join calls the introducers answered, by outcome. Joins that all fail (alert GrapevineNoJoins): unreachable means dial-backs to newcomers fail (their advertised address, a firewall); error means the directory refused the write.',
      unit: 'ops',
      min: 0,
      queries: [q(`sum by (outcome) (${rate('grapevine_introducer_joins_total', MEMBERS)})`, '{{outcome}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[2],
      description:
        'Failure detection over all hosts. Deaths that jump at once across many hosts are a partition or a mass crash (alert GrapevineDeathRateSpike). Suspicions refuted as fast as they start mean peers are slow, not dead (alert GrapevineHostFlapping).',
      unit: 'ops',
      min: 0,
      queries: [
        q(`sum(${rate('grapevine_host_suspicions_total', MEMBERS)})`, 'suspicions'),
        q(`sum(${rate('grapevine_host_refutations_total', MEMBERS)})`, 'refutations'),
        q(`sum(${rate('grapevine_host_deaths_total', MEMBERS)})`, 'deaths'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Registrations and expiries',
      description:
        'Directory writes by outcome, and leases that ended because nobody renewed them. Expiries without deaths mean peers lose their lease while alive: directory or Redis too slow, or the lease TTL too short.',
      unit: 'ops',
      min: 0,
      queries: [
        q(`sum by (outcome) (${rate('grapevine_directory_registrations_total', INSTANCE)})`, 'register {{outcome}}'),
        q(`sum(${rate('grapevine_directory_expiries_total', INSTANCE)})`, 'expired'),
      ],
    }),
  );

  builder.withRow(row('Requests'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[3],
      description:
        'Calls the directory answered, by method. Renew is the steady beat (each host every third of its lease TTL); a surge of Register is peers re-registering after lost leases.',
      unit: 'reqps',
      min: 0,
      queries: [q(`sum by (grpc_method) (${rate('grpc_server_handled_total', DIRECTORY)})`, '{{grpc_method}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[4],
      description:
        'Calls answered with anything but OK, on every service (the service is in the legend: hosts and introducers both answer HostService). NotFound and InvalidArgument answer what clients asked; Unavailable, Internal, Unknown and DeadlineExceeded are failures of the service: see the gRPC dashboard for the method.',
      unit: 'reqps',
      min: 0,
      queries: [
        q(
          `sum by (grpc_service, grpc_method, grpc_code) (${rate('grpc_server_handled_total', `grpc_code!="OK", ${INSTANCE}`)})`,
          '{{grpc_service}}/{{grpc_method}} {{grpc_code}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Directory server-error ratio',
      description: `Share of the directory's unary calls that failed on the server side (${SERVER_ERROR_CODES.split('|').join(', ')}). Above the 5% line for five minutes fires GrapevineDirectoryErrorRatioHigh; UNAVAILABLE there is almost always Redis.`,
      unit: 'percentunit',
      min: 0,
      thresholds: rising(0.05),
      queries: [
        q(
          `1 - (sum(${rate('grpc_server_handled_total', `${DIRECTORY}, grpc_type="unary", grpc_code!~"${SERVER_ERROR_CODES}"`)}) / sum(${rate('grpc_server_handled_total', `${DIRECTORY}, grpc_type="unary"`)}))`,
          'server errors',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: OVERVIEW_MAIN_PANELS[5],
      description:
        'The slowest 1% of unary calls, by service and method (a method name alone would mix services that share it). Directory methods above 500 ms for ten minutes fire GrapevineDirectoryLatencyHigh: check Redis command latency on the directory dashboard, then the process CPU.',
      unit: 's',
      min: 0,
      thresholds: rising(0.5),
      queries: [
        q(
          quantile(0.99, 'grpc_server_handling_seconds', `grpc_type="unary", ${INSTANCE}`, [
            'grpc_service',
            'grpc_method',
          ]),
          '{{grpc_service}}/{{grpc_method}}',
        ),
      ],
    }),
  );
  return builder.build();
}
