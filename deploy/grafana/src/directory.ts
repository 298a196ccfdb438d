/** Grapevine directory: leases, watches, the API and the Redis behind it. */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  falling,
  instanceVariable,
  networkVariable,
  newDashboard,
  PanelIds,
  processPanels,
  q,
  quantile,
  rate,
  rising,
  row,
  SERVER_ERROR_CODES,
  SERVICE,
  timeseriesPanel,
} from './panels';

const INSTANCE = 'instance=~"$instance"';
const API = `grpc_service="${SERVICE.directory}", ${INSTANCE}`;

/** One query per outcome-labelled counter: `sum by (outcome) (rate(...))`. */
const byOutcome = (metric: string, prefix = '') =>
  q(`sum by (outcome) (${rate(metric, INSTANCE)})`, `${prefix}{{outcome}}`);

export function directoryDashboard(): dashboard.Dashboard {
  const ids = new PanelIds();
  const builder = newDashboard({
    uid: 'grapevine-directory',
    title: 'Grapevine / Directory',
    description: 'The directory: peers and leases, watchers, its gRPC API, and the Redis it keeps them in.',
    variables: [networkVariable(), instanceVariable('grapevine_directory_store_up')],
  });

  builder.withRow(row('Peers and leases'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Peers per network',
      description:
        'Live (leased) peers per network, read from the store at scrape time; replicas share one store, so the largest report is shown. Missing while Redis is down (see Redis up below). A drop with the hosts still running: their leases are not renewed; look at Register and Renew outcomes and the hosts’ directory lease panel.',
      unit: 'short',
      min: 0,
      width: 8,
      queries: [q('max by (network) (grapevine_directory_peers{network=~"$network"})', '{{network}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Register by outcome',
      description:
        'Registrations (Register calls and RegisterBatch entries, which introducers send) by outcome. failed_precondition is a peer replaying an old record; already_exists a name held by another live peer; a rise of unavailable is Redis (check Redis up).',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [byOutcome('grapevine_directory_registrations_total')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Renew and deregister by outcome',
      description:
        'Renewals (not_found: the lease was already gone, and the host registers again) and deregistrations (peers leaving cleanly). Many not_found renewals mean leases expire before hosts renew: the directory or Redis is slow, or TTLs are too short.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        byOutcome('grapevine_directory_renewals_total', 'renew '),
        byOutcome('grapevine_directory_deregistrations_total', 'deregister '),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Expiries, evictions and record updates',
      description:
        'Leases that ran out, peers the introducers evicted after gossip declared them dead, and newer records learned through gossip. Evictions without matching deaths on the host dashboard mean introducers and hosts disagree about who is alive.',
      unit: 'ops',
      min: 0,
      width: 12,
      queries: [
        q(`sum(${rate('grapevine_directory_expiries_total', INSTANCE)})`, 'expired'),
        byOutcome('grapevine_directory_evictions_total', 'evicted '),
        byOutcome('grapevine_directory_record_updates_total', 'updated '),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Expiry sweep p99',
      description:
        'How long one sweep of expired leases takes. Sweeps run on every replica; one that grows with the number of peers is a sign the expiry index is scanned rather than ranged: check Redis slow log.',
      unit: 's',
      min: 0,
      width: 12,
      thresholds: rising(0.1),
      queries: [
        q(quantile(0.99, 'grapevine_directory_sweep_duration_seconds', INSTANCE, ['instance']), '{{instance}}'),
      ],
    }),
  );

  builder.withRow(row('Watch'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Watchers',
      description:
        'Open Watch streams per replica (limit maxWatchers, 10,000 by default; 1,000 per client address). Orange from 8,000: new watches will soon be refused with RESOURCE_EXHAUSTED; add replicas or raise the limit. Watchers piling up on one replica: clients are not spread by the load balancer.',
      unit: 'short',
      min: 0,
      // 80% and 100% of the default maxWatchers (services/common/limits.ts).
      thresholds: rising(8_000, 10_000),
      queries: [q(`sum by (instance) (grapevine_directory_watchers{${INSTANCE}})`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Watch events sent by type',
      description:
        'Change events written to Watch streams. Roughly watchers times changes; a drop to 0 while peers register means the change log is not read: look at the replica logs.',
      unit: 'ops',
      min: 0,
      queries: [q(`sum by (type) (${rate('grapevine_directory_watch_events_sent_total', INSTANCE)})`, '{{type}}')],
    }),
  );

  builder.withRow(row('API'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Requests by method and code',
      description:
        'Every answer of the directory. NotFound on Renew and Resolve is normal in small numbers; Unavailable means the store is down.',
      unit: 'reqps',
      min: 0,
      width: 8,
      queries: [
        q(
          `sum by (grpc_method, grpc_code) (${rate('grpc_server_handled_total', API)})`,
          '{{grpc_method}} {{grpc_code}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Server-error ratio by method',
      description:
        'Share of unary calls that failed on the server side. The alert GrapevineDirectoryErrorRatioHigh fires over 5% overall: find the method here, then the code in the panel to the left.',
      unit: 'percentunit',
      min: 0,
      width: 8,
      thresholds: rising(0.05),
      queries: [
        q(
          `1 - (sum by (grpc_method) (${rate('grpc_server_handled_total', `${API}, grpc_type="unary", grpc_code!~"${SERVER_ERROR_CODES}"`)}) / sum by (grpc_method) (${rate('grpc_server_handled_total', `${API}, grpc_type="unary"`)}))`,
          '{{grpc_method}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Latency by method',
      description:
        'Median and 99th percentile of unary calls. p99 over 500 ms for ten minutes fires GrapevineDirectoryLatencyHigh. Register verifies a signature and runs a five-key script; if only it is slow, look at CPU, if all are, at Redis.',
      unit: 's',
      min: 0,
      width: 8,
      thresholds: rising(0.5),
      queries: [
        q(
          quantile(0.5, 'grpc_server_handling_seconds', `${API}, grpc_type="unary"`, ['grpc_method']),
          'p50 {{grpc_method}}',
        ),
        q(
          quantile(0.99, 'grpc_server_handling_seconds', `${API}, grpc_type="unary"`, ['grpc_method']),
          'p99 {{grpc_method}}',
        ),
      ],
    }),
  );

  builder.withRow(row('Redis'));
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Store up',
      description:
        '1 while the replica reaches Redis, 0 when it does not (alert GrapevineRedisUnavailable after a minute): check Redis itself, then the network and credentials between them.',
      unit: 'none',
      min: 0,
      max: 1,
      width: 6,
      thresholds: falling(1),
      queries: [q(`grapevine_directory_store_up{${INSTANCE}}`, '{{instance}}')],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Redis commands by command',
      description:
        'Commands the directory sent to Redis per second, by command (scripts count once each). A rate far above the directory’s requests: a retry loop or a watch relisting; a command that stops while requests go on: Redis is not answering it (see errors).',
      unit: 'ops',
      min: 0,
      width: 6,
      queries: [
        q(
          `sum by (command) (${rate('grapevine_directory_redis_command_duration_seconds_count', INSTANCE)})`,
          '{{command}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Redis command p99',
      description:
        'The slowest 1% of Redis commands, by command; xread is left out, as it blocks up to a second while a watched network is quiet. Above a few milliseconds on a local Redis: Redis is saturated (check its CPU, slow log, memory and eviction policy).',
      unit: 's',
      min: 0,
      width: 6,
      thresholds: rising(0.01, 0.1),
      queries: [
        q(
          quantile(0.99, 'grapevine_directory_redis_command_duration_seconds', `${INSTANCE}, command!="xread"`, [
            'command',
          ]),
          '{{command}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: 'Redis errors by command',
      description:
        'Redis commands that failed (connection lost, timeout, script error). Any sustained rate means the directory answers UNAVAILABLE: see the runbook section GrapevineRedisUnavailable.',
      unit: 'ops',
      min: 0,
      width: 6,
      thresholds: rising(0.01),
      queries: [q(`sum by (command) (${rate('grapevine_directory_redis_errors_total', INSTANCE)})`, '{{command}}')],
    }),
  );

  builder.withRow(row('Process'));
  for (const panel of processPanels(ids)) builder.withPanel(panel);
  return builder.build();
}
