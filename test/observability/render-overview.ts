/**
 * Draws the overview dashboard's main panels as one SVG, headlessly (Vega-Lite compiled to Vega,
 * rendered without a browser or canvas), from the series a Prometheus run returned. The data file
 * is written by prometheus-e2e.test.ts; the SVG goes to stdout.
 *
 *   node --import tsx test/observability/render-overview.ts <data.json> > picture.svg
 */
import { readFileSync } from 'node:fs';

interface PanelData {
  readonly title: string;
  /** The panel's Grafana unit. */
  readonly unit: string;
  readonly series: readonly { name: string; points: readonly (readonly [number, number])[] }[];
}

interface PictureData {
  readonly runSeconds: number;
  readonly panels: readonly PanelData[];
}

/** How a Grafana unit reads on an axis: a scale factor, a title and a d3 number format. */
function axisOf(unit: string): { factor: number; title: string; format: string } {
  switch (unit) {
    case 's':
      return { factor: 1_000, title: 'milliseconds', format: ',.3~r' };
    case 'reqps':
      return { factor: 1, title: 'requests / s', format: ',.3~r' };
    case 'ops':
      return { factor: 1, title: 'per second', format: ',.3~r' };
    case 'percentunit':
      return { factor: 1, title: 'share', format: '.0%' };
    default:
      return { factor: 1, title: 'count', format: ',.3~r' };
  }
}

export function overviewSpec(data: PictureData): Record<string, unknown> {
  // From the first scrape: before it nothing was recorded.
  const firstS = Math.min(
    data.runSeconds,
    ...data.panels.flatMap((panel) => panel.series.flatMap((series) => series.points.map(([t]) => t))),
  );
  const panels = data.panels.map((panel) => {
    const axis = axisOf(panel.unit);
    const values = panel.series.flatMap((series) =>
      series.points.map(([t, v]) => ({ t, v: v * axis.factor, series: series.name })),
    );
    const empty = values.length === 0;
    return {
      title: { text: empty ? `${panel.title} (no data in this run)` : panel.title, anchor: 'start', fontSize: 13 },
      width: 380,
      height: 150,
      data: { values: empty ? [{ t: 0, v: 0, series: '' }] : values },
      mark: { type: 'line', interpolate: 'monotone', strokeWidth: 1.5, opacity: empty ? 0 : 1 },
      encoding: {
        x: {
          field: 't',
          type: 'quantitative',
          title: 'seconds into the run',
          scale: { domain: [Math.floor(firstS), data.runSeconds], nice: false },
        },
        y: { field: 'v', type: 'quantitative', title: axis.title, axis: { format: axis.format } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          legend: empty ? null : { orient: 'right', labelLimit: 210, symbolLimit: 12, columns: 1 },
        },
      },
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Grapevine / Overview',
      subtitle:
        'grapevine dev on Redis, scraped every second by Prometheus: announces and lookups, floods, a host that joins and is killed, a short Redis outage',
      anchor: 'start',
    },
    concat: panels,
    columns: 2,
    resolve: { scale: { color: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' }, background: 'white' },
  };
}

async function main(file: string): Promise<void> {
  const data = JSON.parse(readFileSync(file, 'utf8')) as PictureData;
  // Both packages are ES modules with top-level await: load them with import().
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const view = new vega.View(vega.parse(vegaLite.compile(overviewSpec(data) as never).spec), { renderer: 'none' });
  try {
    process.stdout.write(await view.toSVG());
  } finally {
    view.finalize();
  }
}

if (require.main === module) {
  const [file] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: render-overview.ts <data.json>\n');
    process.exitCode = 2;
  } else {
    main(file).catch((error: Error) => {
      process.stderr.write(`${error.stack ?? error.message}\n`);
      process.exitCode = 1;
    });
  }
}
