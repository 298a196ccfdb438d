/**
 * Prometheus naming and labelling conventions (prometheus.io/docs/practices/naming), checked on
 * what a process actually exposes: snake_case names with the unit in them, `_total` on counters
 * and nowhere else, grapevine_<subsystem>_ prefixes, and labels with few values and no peer ids
 * or addresses in them.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: readonly Sample[];
}

/** Parses the text exposition format (what /metrics serves) into families. */
export function parseExposition(text: string): MetricFamily[] {
  const families = new Map<string, { name: string; type: string; help: string; samples: Sample[] }>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  let current: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]);
      if (meta[1] === 'HELP') f.help = meta[3];
      else f.type = meta[3];
      current = meta[2];
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value;
    }
    // Histogram and summary series (_bucket, _sum, _count) belong to the family declared above them.
    const owner = current && sample[1].startsWith(current) ? current : sample[1];
    family(owner).samples.push({ name: sample[1], labels });
  }
  return [...families.values()];
}

/**
 * Names that break the conventions in libraries we do not own, each with its reason. Everything
 * else must pass.
 */
export const THIRD_PARTY_EXCEPTIONS: Readonly<Record<string, string>> = {
  nodejs_active_handles_total: 'prom-client default metric: a gauge that ends in _total',
  nodejs_active_requests_total: 'prom-client default metric: a gauge that ends in _total',
  nodejs_active_resources_total: 'prom-client default metric: a gauge that ends in _total',
};

export interface Problem {
  readonly metric: string;
  readonly problem: string;
}

const SNAKE = /^[a-z_][a-z0-9_]*$/;
const SUBSYSTEMS = ['directory', 'host', 'introducer'];
/** Units Prometheus wants in base form: seconds, bytes, ratios 0-1. */
const NON_BASE_UNITS =
  /_(milliseconds|millis|ms|microseconds|us|nanoseconds|ns|minutes|mins|hours|days|kilobytes|kb|kib|megabytes|mb|mib|percent|pct)(_|$)/;
const BASE_UNITS = ['seconds', 'bytes'];
/** Labels whose values are bounded by construction. */
const UNBOUNDED_OK = new Set(['le', 'quantile']);
const MAX_LABEL_VALUES = 64;
/** A peer id: `b` and the base32 of a 32-byte key. */
const PEER_ID = /\bb[a-z2-7]{52}\b/;
/** An address: IPv4, IPv6 in brackets, or host:port. */
const ADDRESS = /(\b\d{1,3}(\.\d{1,3}){3}\b)|(\[[0-9a-f:]+\])|(^[\w.-]+:\d{2,5}$)/i;
/** Labels Prometheus sets on every target; a metric that carries one gets it renamed to exported_*. */
const TARGET_LABELS = new Set(['job', 'instance']);

/** The problems of one process's families (an empty list when all is well). */
export function namingProblems(families: readonly MetricFamily[]): Problem[] {
  const problems: Problem[] = [];
  const add = (metric: string, problem: string) => problems.push({ metric, problem });
  for (const f of families) {
    if (f.name in THIRD_PARTY_EXCEPTIONS) continue;
    const ours = f.name.startsWith('grapevine_') || f.name.startsWith('grpc_');
    if (!SNAKE.test(f.name)) add(f.name, 'name is not snake_case (colons are for recording rules)');
    if (f.help.trim() === '') add(f.name, 'no HELP text');
    if (f.type === 'counter' && !f.name.endsWith('_total')) add(f.name, 'counter without the _total suffix');
    if (f.type !== 'counter' && f.name.endsWith('_total')) add(f.name, `${f.type} with the _total suffix`);
    if (f.type === 'untyped') add(f.name, 'no TYPE');
    if (NON_BASE_UNITS.test(f.name)) add(f.name, 'unit not in base form (seconds, bytes, ratio)');
    if (f.name.startsWith('grapevine_')) {
      const subsystem = f.name.split('_')[1];
      if (!SUBSYSTEMS.includes(subsystem))
        add(f.name, `subsystem "${subsystem}" is not one of ${SUBSYSTEMS.join(', ')}`);
    }
    for (const unit of BASE_UNITS) {
      const at = f.name.indexOf(`_${unit}`);
      const rest = at < 0 ? '' : f.name.slice(at + unit.length + 1);
      if (at >= 0 && rest !== '' && rest !== '_total') add(f.name, `unit _${unit} is not the last part of the name`);
    }
    if (ours && (f.type === 'histogram' || f.type === 'summary') && !/_(seconds|bytes)$/.test(f.name)) {
      add(f.name, `${f.type} whose name does not end in its unit (_seconds, _bytes)`);
    }

    const values = new Map<string, Set<string>>();
    for (const sample of f.samples) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (!values.has(label)) values.set(label, new Set());
        values.get(label)!.add(value);
      }
    }
    for (const [label, seen] of values) {
      if (!SNAKE.test(label) || label.startsWith('__'))
        add(f.name, `label "${label}" is not snake_case or is reserved`);
      if (TARGET_LABELS.has(label)) add(f.name, `label "${label}" clashes with the target label Prometheus sets`);
      if (!UNBOUNDED_OK.has(label) && seen.size > MAX_LABEL_VALUES) {
        add(f.name, `label "${label}" has ${seen.size} values (more than ${MAX_LABEL_VALUES}: unbounded?)`);
      }
      for (const value of seen) {
        if (PEER_ID.test(value)) add(f.name, `label "${label}" carries a peer id (${value})`);
        else if (ADDRESS.test(value)) add(f.name, `label "${label}" carries an address (${value})`);
      }
    }
  }
  return problems;
}
