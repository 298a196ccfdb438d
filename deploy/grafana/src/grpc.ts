/**
 * gRPC by service and method, server and client side, from the one interceptor every process
 * installs (services/common/grpc-metrics.ts): rates, codes, latency, stream messages, calls open.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  instanceVariable,
  labelVariable,
  networkVariable,
  newDashboard,
  PanelIds,
  q,
  quantile,
  rate,
  rising,
  row,
  SERVER_ERROR_CODES,
  timeseriesPanel,
} from './panels';

const SELECTED = 'grpc_service=~"$service", grpc_method=~"$method", network=~"$network", instance=~"$instance"';

function side(builder: dashboard.DashboardBuilder, ids: PanelIds, which: 'server' | 'client'): void {
  const m = (name: string) => `grpc_${which}_${name}`;
  const whose = which === 'server' ? 'this service answered' : 'the processes made as clients';
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'} calls started by method`,
      description: `Calls ${whose}, by service and method. A method that stops while others go on: its callers are stuck or gone.`,
      unit: 'reqps',
      min: 0,
      width: 8,
      queries: [
        q(
          `sum by (grpc_service, grpc_method) (${rate(m('started_total'), SELECTED)})`,
          '{{grpc_service}}/{{grpc_method}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'} calls completed by code`,
      description:
        which === 'server'
          ? 'Calls completed, by method and status code. Codes that answer the client (NotFound, InvalidArgument, ...) are normal in moderation; server-side codes are not.'
          : 'Calls this side made, by the code they ended with. Unavailable and DeadlineExceeded towards hosts follow crashes until the dead peer is dropped; towards the directory they mean it is down or overloaded.',
      unit: 'reqps',
      min: 0,
      width: 8,
      queries: [
        q(`sum by (grpc_method, grpc_code) (${rate(m('handled_total'), SELECTED)})`, '{{grpc_method}} {{grpc_code}}'),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'}-side error ratio by method`,
      description: `Share of unary calls ending in ${SERVER_ERROR_CODES.split('|').join(', ')}. Above 5%: find the code in the panel to the left, then the logs of the ${which === 'server' ? 'serving' : 'called'} process.`,
      unit: 'percentunit',
      min: 0,
      width: 8,
      thresholds: rising(0.05),
      queries: [
        q(
          `1 - (sum by (grpc_service, grpc_method) (${rate(m('handled_total'), `${SELECTED}, grpc_type="unary", grpc_code!~"${SERVER_ERROR_CODES}"`)}) / sum by (grpc_service, grpc_method) (${rate(m('handled_total'), `${SELECTED}, grpc_type="unary"`)}))`,
          '{{grpc_service}}/{{grpc_method}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'} latency by method (unary)`,
      description:
        which === 'server'
          ? 'p50, p90 and p99 of unary calls from first byte in to status out; streams are left out (their duration is how long a client watched). A p99 above 0.5 s: the process is overloaded (its CPU and event-loop lag) or, for the directory, Redis is slow (its Redis p99).'
          : 'p50, p90 and p99 of unary calls as the caller saw them, network included. Far above the server side for the same method: the network or the caller’s own event loop.',
      unit: 's',
      min: 0,
      width: 8,
      thresholds: rising(0.5),
      queries: [0.5, 0.9, 0.99].map((quant) =>
        q(
          quantile(quant, m('handling_seconds'), `${SELECTED}, grpc_type="unary"`, ['grpc_service', 'grpc_method']),
          `p${quant * 100} {{grpc_service}}/{{grpc_method}}`,
        ),
      ),
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'} stream messages`,
      description:
        'Messages received and sent per second on streaming methods (Watch, Receive, Push); a unary call counts one each way. A stream whose sent rate falls to 0 while its source changes is stuck.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        q(
          `sum by (grpc_method) (${rate(m('msg_received_total'), `${SELECTED}, grpc_type!="unary"`)})`,
          'received {{grpc_method}}',
        ),
        q(
          `sum by (grpc_method) (${rate(m('msg_sent_total'), `${SELECTED}, grpc_type!="unary"`)})`,
          'sent {{grpc_method}}',
        ),
      ],
    }),
  );
  builder.withPanel(
    timeseriesPanel(ids, {
      title: `${which === 'server' ? 'Server' : 'Client'} calls open`,
      description:
        'Calls started and not yet completed: open streams plus unary calls in flight. Growing without bound: calls that never end (missing deadlines) or streams nobody closes.',
      unit: 'short',
      min: 0,
      width: 8,
      queries: [
        q(
          `sum by (grpc_service, grpc_method) (${m('started_total')}{${SELECTED}}) - sum by (grpc_service, grpc_method) (${m('handled_total')}{${SELECTED}})`,
          '{{grpc_service}}/{{grpc_method}}',
        ),
      ],
    }),
  );
}

export function grpcDashboard(): dashboard.Dashboard {
  const ids = new PanelIds();
  const builder = newDashboard({
    uid: 'grapevine-grpc',
    title: 'Grapevine / gRPC',
    description: 'Every gRPC service and method, server and client side: rates, codes, latency, streams.',
    variables: [
      networkVariable(
        'grpc_server_started_total',
        'Networks of the hosts and introducers. The directory serves every network and its series carry none: they show under All only.',
      ),
      instanceVariable('grpc_server_started_total{network=~"$network"}'),
      labelVariable(
        'service',
        'grpc_service',
        'grpc_server_started_total{network=~"$network", instance=~"$instance"}',
        'gRPC services.',
      ),
      labelVariable(
        'method',
        'grpc_method',
        'grpc_server_started_total{network=~"$network", instance=~"$instance", grpc_service=~"$service"}',
        'Methods of the selected services.',
      ),
    ],
  });
  builder.withRow(row('Server'));
  side(builder, ids, 'server');
  builder.withRow(row('Client'));
  side(builder, ids, 'client');
  return builder.build();
}
