/**
 * A process's /metrics as tests read it. A series is found by its name and the labels a test cares
 * about; other labels (the network a host or an introducer puts on every series) do not get in
 * the way.
 */

/** The text a process serves on its /metrics port on loopback. */
export async function scrape(metricsPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

/** Every series of `name` in exposition `text`, with its labels and value. */
export function seriesOf(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const found = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    const body = /^[^{ ]*\{(.*)\}/.exec(line)?.[1] ?? '';
    for (const [, key, value] of body.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    found.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return found;
}

/** The values of the series of `name` whose labels include `labels`. */
export function seriesValues(text: string, name: string, labels: Record<string, string> = {}): number[] {
  return seriesOf(text, name)
    .filter((series) => Object.entries(labels).every(([key, value]) => series.labels[key] === value))
    .map((series) => series.value);
}

/** The one value of `name` (with `labels`), or undefined when no series matches. */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return seriesValues(text, name, labels)[0];
}
