/** Finds the .proto contracts at run time (for server reflection), from source or from dist/. */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function protoRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'grapevine', 'v1', 'record.proto'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`no proto/grapevine/v1 found above ${__dirname}`);
  }
}

export function protoFiles(): string[] {
  const dir = join(protoRoot(), 'grapevine', 'v1');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.proto'))
    .map((file) => `grapevine/v1/${file}`);
}
