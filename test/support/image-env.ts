/**
 * The environment the image gives every role (deploy/Dockerfile's runtime ENV), read from the
 * Dockerfile itself so benchmarks run their servers as the image does and cannot drift from it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const DOCKERFILE = join(__dirname, '..', '..', 'deploy', 'Dockerfile');

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
