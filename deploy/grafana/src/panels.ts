/**
 * The building blocks every Grapevine dashboard is made of: the data source and its variables,
 * time series and stat panels with a unit, a description and (where a value can be wrong)
 * thresholds, and the Node process row. Dashboards are code so that a query, a unit or a
 * threshold is reviewed like any other change; `make dashboards` writes the JSON.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Every query goes to the Prometheus the `datasource` variable names. */
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** The tag every Grapevine dashboard carries; the dashboards link to each other through it. */
export const TAG = 'grapevine';

/**
 * gRPC codes that are the service's own failure. The others (NotFound for a lost lease,
 * InvalidArgument, PermissionDenied, ...) answer what the client asked. The same list is in
 * deploy/prometheus/rules/grapevine-recording.yml.
 */
export const SERVER_ERROR_CODES = 'Unknown|Internal|Unavailable|DeadlineExceeded|DataLoss|Unimplemented';

export const SERVICE = {
  directory: 'grapevine.v1.DirectoryService',
  host: 'grapevine.v1.HostService',
  introducer: 'grapevine.v1.IntroducerService',
} as const;

/** What every role's target carries (deploy/prometheus/prometheus.yml, the dev target file). */
export const ROLES = 'directory|introducer|host';

/** A Prometheus query and how its series are named in the legend. */
export interface Query {
  readonly expr: string;
  readonly legend: string;
}

export const q = (expr: string, legend: string): Query => ({ expr, legend });

/** `rate(<metric>{<matchers>}[$__rate_interval])`: counters are only ever shown as rates. */
export const rate = (metric: string, matchers: string): string => `rate(${metric}{${matchers}}[$__rate_interval])`;

/** The q-quantile of a histogram, from its buckets' rates, grouped by `by` (le is added). */
export const quantile = (q: number, metric: string, matchers: string, by: readonly string[]): string =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (${rate(`${metric}_bucket`, matchers)}))`;

/** A threshold step: from `value` up (null: from minus infinity), in `color`. */
export interface Step {
  readonly value: number | null;
  readonly color: string;
}

/** Green below `warn`, orange from it, red from `critical`. */
export const rising = (warn: number, critical?: number): Step[] => [
  { value: null, color: 'green' },
  { value: warn, color: critical === undefined ? 'red' : 'orange' },
  ...(critical === undefined ? [] : [{ value: critical, color: 'red' }]),
];

/** Red below `ok` (e.g. 0 instances up), green from it. */
export const falling = (ok: number): Step[] => [
  { value: null, color: 'red' },
  { value: ok, color: 'green' },
];

interface PanelSpec {
  readonly title: string;
  /** What the panel shows, and what to do when it looks wrong. */
  readonly description: string;
  /** A Grafana unit id: s, ops, reqps, Bps, bytes, percentunit, short, none. */
  readonly unit: string;
  readonly queries: readonly Query[];
  readonly thresholds?: readonly Step[];
  readonly min?: number;
  readonly max?: number;
  readonly width?: number;
  readonly height?: number;
  readonly decimals?: number;
}

/** Numbers panels and their queries in the order they are made, so the JSON is stable. */
export class PanelIds {
  private next = 1;
  take(): number {
    return this.next++;
  }
}

function targets(queries: readonly Query[]): prometheus.DataqueryBuilder[] {
  return queries.map((query, i) =>
    new prometheus.DataqueryBuilder()
      .datasource(DATASOURCE)
      .refId(String.fromCharCode(65 + i))
      .expr(query.expr)
      .legendFormat(query.legend)
      .range(),
  );
}

function thresholds(steps: readonly Step[]): dashboard.ThresholdsConfigBuilder {
  return (
    new dashboard.ThresholdsConfigBuilder()
      .mode(dashboard.ThresholdsMode.Absolute)
      // Grafana writes the first step's "from minus infinity" as null.
      .steps(steps.map((step) => ({ value: step.value as number, color: step.color })))
  );
}

export function timeseriesPanel(ids: PanelIds, spec: PanelSpec): timeseries.PanelBuilder {
  const panel = new timeseries.PanelBuilder()
    .id(ids.take())
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .lineWidth(1)
    .fillOpacity(10)
    .showPoints(common.VisibilityMode.Never)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending),
    )
    .targets(targets(spec.queries));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  if (spec.decimals !== undefined) panel.decimals(spec.decimals);
  if (spec.thresholds) {
    panel
      .thresholds(thresholds(spec.thresholds))
      .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  }
  return panel;
}

export function statPanel(
  ids: PanelIds,
  spec: PanelSpec & { readonly mappings?: dashboard.ValueMapping[] },
): stat.PanelBuilder {
  const panel = new stat.PanelBuilder()
    .id(ids.take())
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 6)
    .height(spec.height ?? 4)
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .thresholds(thresholds(spec.thresholds ?? [{ value: null, color: 'blue' }]))
    .targets(targets(spec.queries));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.decimals !== undefined) panel.decimals(spec.decimals);
  if (spec.mappings) panel.mappings(spec.mappings);
  return panel;
}

export const row = (title: string): dashboard.RowBuilder => new dashboard.RowBuilder(title);

/** The data source picker: every query follows it. */
export function datasourceVariable(): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus');
}

const ALL: dashboard.VariableOption = { selected: true, text: 'All', value: '$__all' };

/**
 * A multi-value variable from `label_values(<selector>, <label>)`, "All" by default. All is
 * `.*`, so a panel's `label=~"$name"` keeps working when a value appears after the dashboard
 * loaded.
 */
export function labelVariable(
  name: string,
  label: string,
  selector: string,
  description: string,
): dashboard.QueryVariableBuilder {
  const query = `label_values(${selector}, ${label})`;
  return new dashboard.QueryVariableBuilder(name)
    .label(name)
    .description(description)
    .datasource(DATASOURCE)
    .query({ query, refId: 'PrometheusVariableQueryEditor-VariableQuery', qryType: 1 })
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current(ALL);
}

/**
 * Networks, by default those the directory holds peers for. Hosts and introducers serve one
 * network each and label every series with it; the directory serves them all and does not.
 */
export function networkVariable(
  selector = 'grapevine_directory_peers',
  description = 'Networks the directory holds peers for.',
): dashboard.QueryVariableBuilder {
  return labelVariable('network', 'network', selector, description);
}

/** Series of the selected networks and instances, for metrics that carry both labels. */
export const NETWORK_AND_INSTANCE = 'network=~"$network", instance=~"$instance"';

/** The instances of one role, found through a metric only that role exposes. */
export function instanceVariable(selector: string): dashboard.QueryVariableBuilder {
  return labelVariable('instance', 'instance', selector, 'Processes (host:port of their /metrics).');
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly dashboard.QueryVariableBuilder[];
}

export function newDashboard(spec: DashboardSpec): dashboard.DashboardBuilder {
  const builder = new dashboard.DashboardBuilder(spec.title)
    .uid(spec.uid)
    .description(spec.description)
    .tags([TAG])
    .editable()
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('Grapevine')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([TAG])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true),
    )
    .withVariable(datasourceVariable());
  for (const variable of spec.variables) builder.withVariable(variable);
  return builder;
}

/** CPU, memory and event-loop lag of the selected processes: the first suspects when anything is slow. */
export function processPanels(ids: PanelIds): timeseries.PanelBuilder[] {
  const sel = 'instance=~"$instance"';
  return [
    timeseriesPanel(ids, {
      title: 'CPU',
      description:
        'CPU time per second of each process (1 = one core). A process pinned at 1 is limited by its single JavaScript thread: add replicas (directory) or look for a hot path in a profile.',
      unit: 'percentunit',
      min: 0,
      width: 8,
      thresholds: rising(0.8),
      queries: [q(`sum by (instance) (${rate('process_cpu_seconds_total', sel)})`, '{{instance}}')],
    }),
    timeseriesPanel(ids, {
      title: 'Resident memory',
      description:
        'Resident set size of each process. Steady growth with a steady number of peers and watchers is a leak: take a heap snapshot before restarting.',
      unit: 'bytes',
      min: 0,
      width: 8,
      queries: [q(`process_resident_memory_bytes{${sel}}`, '{{instance}}')],
    }),
    timeseriesPanel(ids, {
      title: 'Event loop lag p99',
      description:
        'How late timers and I/O callbacks ran. Above probe timeouts (200 ms on the local profile, 500 ms on lan) a host answers pings too late and gets suspected: reduce load on that process.',
      unit: 's',
      min: 0,
      width: 8,
      thresholds: rising(0.1, 0.5),
      queries: [q(`nodejs_eventloop_lag_p99_seconds{${sel}}`, '{{instance}}')],
    }),
  ];
}
