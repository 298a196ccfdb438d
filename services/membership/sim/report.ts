/**
 * A run's report: the figures as JSON, and an HTML page with plots over time (Vega-Lite specs,
 * rendered to SVG headlessly by Vega), so convergence, detection and traffic show at a glance.
 * Nothing here writes files: the caller decides where the report goes.
 */
import type { SimResult } from './simulator';

export interface ReportMeta {
  /** Wall-clock seconds the run took, measured by the caller. */
  readonly wallS: number;
  /** Free text about where and how it ran (machine, versions). */
  readonly environment?: string;
}

export interface ReportJson {
  readonly scenario: string;
  readonly description: string;
  readonly nodes: number;
  readonly seed: number;
  readonly simulatedS: number;
  readonly wallS: number;
  readonly simSecondsPerWallSecond: number;
  readonly lifeguard: boolean;
  readonly figures: SimResult['figures'];
  readonly config: SimResult['config'];
  readonly series: SimResult['series'];
}

export function reportJson(result: SimResult, meta: ReportMeta): ReportJson {
  return {
    scenario: result.scenario.name,
    description: result.scenario.description,
    nodes: result.scenario.nodes,
    seed: result.seed,
    simulatedS: result.simulatedS,
    wallS: meta.wallS,
    simSecondsPerWallSecond: meta.wallS > 0 ? result.simulatedS / meta.wallS : 0,
    lifeguard: result.config.lifeguard,
    figures: result.figures,
    config: result.config,
    series: result.series,
  };
}

/** The Vega-Lite spec of the report's plots: four panels over simulated time. */
export function reportSpec(result: SimResult): Record<string, unknown> {
  const rows: Array<Record<string, number | string>> = [];
  for (const s of result.series) {
    rows.push({ t: s.tS, panel: 'nodes', series: 'live nodes', value: s.liveNodes });
    if (s.component !== null)
      rows.push({ t: s.tS, panel: 'nodes', series: 'largest component (nodes)', value: s.component * s.liveNodes });
    rows.push({ t: s.tS, panel: 'traffic', series: 'bytes per node per s', value: s.bytesPerNodePerS });
    rows.push({ t: s.tS, panel: 'detection', series: 'suspicions', value: s.suspicions });
    rows.push({ t: s.tS, panel: 'detection', series: 'refutations', value: s.refutations });
    rows.push({ t: s.tS, panel: 'detection', series: 'crash detections', value: s.detections });
    rows.push({ t: s.tS, panel: 'detection', series: 'false deaths', value: s.falseDeaths });
    rows.push({ t: s.tS, panel: 'views', series: 'active view (mean)', value: s.activeMean });
    rows.push({ t: s.tS, panel: 'views', series: 'passive view (mean)', value: s.passiveMean });
  }
  const panel = (name: string, title: string, yTitle: string, scale: Record<string, unknown> = {}) => ({
    title,
    width: 720,
    height: 160,
    transform: [{ filter: `datum.panel === '${name}'` }],
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'simulated time (s)' },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'right', labelLimit: 260 } },
    },
  });
  const f = result.figures;
  const subtitle = [
    `${result.scenario.nodes} nodes, seed ${result.seed}, Lifeguard ${result.config.lifeguard ? 'on' : 'off'}`,
    f.detection ? `crash detection p50 ${f.detection.p50S.toFixed(1)} s, p99 ${f.detection.p99S.toFixed(1)} s` : '',
    f.floods ? `flood reach min ${(f.floods.reachMin * 100).toFixed(2)}%` : '',
    `false deaths ${f.falseDeaths}`,
  ]
    .filter((x) => x !== '')
    .join(' · ');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `grapevine sim: ${result.scenario.name}`, subtitle },
    data: { values: rows },
    vconcat: [
      panel('nodes', 'Convergence: live nodes and the largest connected component', 'nodes'),
      panel('detection', 'Failure detection: events per sample interval', 'events'),
      // Joins send far more than steady state: a symlog axis keeps both readable.
      panel('traffic', 'Traffic sent per live node', 'bytes/s (symlog)', { type: 'symlog' }),
      panel('views', 'View sizes', 'peers'),
    ],
    resolve: { scale: { color: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** Renders the report's plots to one SVG document, headlessly (no browser, no canvas). */
export async function renderReportSvg(result: SimResult): Promise<string> {
  // Both packages are ES modules with top-level await: load them with import().
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const compiled = vegaLite.compile(reportSpec(result) as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

/** The HTML page: headline figures, the plots (inline SVG), and the full JSON figures. */
export function reportHtml(json: ReportJson, svg: string): string {
  const f = json.figures;
  const rows: Array<[string, string]> = [
    ['nodes', String(json.nodes)],
    [
      'simulated',
      `${json.simulatedS.toFixed(0)} s in ${json.wallS.toFixed(1)} s wall (${json.simSecondsPerWallSecond.toFixed(1)}x)`,
    ],
    ['Lifeguard', json.lifeguard ? 'on' : 'off'],
  ];
  if (f.detection) {
    rows.push([
      'crash detection (all active neighbours declared dead)',
      `p50 ${f.detection.p50S.toFixed(2)} s, p99 ${f.detection.p99S.toFixed(2)} s, max ${f.detection.maxS.toFixed(2)} s, undetected ${f.detection.undetected} of ${f.detection.crashed}`,
    ]);
  }
  rows.push([
    'false deaths (live peers declared dead)',
    `${f.falseDeaths}, ${f.falseDeathsPer1kNodeHours.toFixed(3)} per 1,000 node-hours (${f.staleDeaths} of them after the peer had already refuted)`,
  ]);
  for (const c of f.components)
    rows.push([
      `largest component at ${c.tS.toFixed(0)} s`,
      `${(c.fraction * 100).toFixed(2)}% of ${c.liveNodes} live nodes`,
    ]);
  if (f.floods) {
    rows.push([
      'floods',
      `${f.floods.count}: reach min ${(f.floods.reachMin * 100).toFixed(2)}%, duplicates per peer per message ${f.floods.dupPerPeerPerMsg.toFixed(2)}, max hops ${f.floods.maxHops}`,
    ]);
  }
  rows.push([
    'traffic per live node',
    `${f.traffic.bytesPerNodePerS.toFixed(0)} B/s, ${f.traffic.messagesPerNodePerS.toFixed(2)} messages/s (window ${f.traffic.windowS[0]}-${f.traffic.windowS[1]} s)`,
  ]);
  rows.push([
    'views',
    `active mean ${f.views.activeMean.toFixed(2)} (max ${f.views.activeMax}), passive mean ${f.views.passiveMean.toFixed(2)} (max ${f.views.passiveMax})`,
  ]);
  const table = rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
  const figures = { ...json, series: `${json.series.length} samples (see report.json)` };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>grapevine sim: ${escapeHtml(json.scenario)} (seed ${json.seed})</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { text-align: left; padding: 0.3em 1em 0.3em 0; vertical-align: top; }
th { font-weight: 600; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>grapevine sim: ${escapeHtml(json.scenario)}</h1>
<p>${escapeHtml(json.description)}</p>
<table>
${table}
</table>
${svg}
<h2>Figures</h2>
<pre>${escapeHtml(JSON.stringify(figures, null, 2))}</pre>
</body>
</html>
`;
}
