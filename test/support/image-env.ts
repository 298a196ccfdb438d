/**
 * The environment the image gives every role (deploy/Dockerfile's runtime ENV) and the chart adds
 * to it (each role's heap limit), read from the Dockerfile and the chart's values themselves so
 * benchmarks run their servers as they are deployed and cannot drift from it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const DOCKERFILE = join(__dirname, '..', '..', 'deploy', 'Dockerfile');
const CHART_VALUES = join(__dirname, '..', '..', 'charts', 'grapevine', 'values.yaml');
/** The chart's values key of each role the `grapevine` binary runs. */
const VALUES_KEY: Readonly<Record<string, string>> = {
  directory: 'directory',
  introducer: 'introducer',
  host: 'hosts',
};

/** The runtime stage's `ENV name=value` pairs (the last FROM's), continuation lines joined. */
export function imageEnv(dockerfile = readFileSync(DOCKERFILE, 'utf8')): Record<string, string> {
  const joined = dockerfile.replace(/\\\n/g, ' ');
  const lastFrom = joined.lastIndexOf('\nFROM ');
  const runtime = lastFrom < 0 ? joined : joined.slice(lastFrom);
  const env: Record<string, string> = {};
  for (const [, args] of runtime.matchAll(/^\s*ENV\s+(.+)$/gm)) {
    for (const [, name, value] of args.matchAll(/(\w+)=(\S+)/g)) env[name] = value;
  }
  return env;
}

/**
 * The node flags the chart starts `role` with (its `maxHeapMiB` as --max-old-space-size); none
 * for a role the chart does not run or leaves to node.
 */
export function chartNodeFlags(role: string, valuesYaml = readFileSync(CHART_VALUES, 'utf8')): string[] {
  const key = VALUES_KEY[role];
  const heapMiB = key ? (parse(valuesYaml) as Record<string, { maxHeapMiB?: number }>)[key]?.maxHeapMiB : undefined;
  return heapMiB ? [`--max-old-space-size=${heapMiB}`] : [];
}
