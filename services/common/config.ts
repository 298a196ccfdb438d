/**
 * Configuration from, in rising precedence: built-in defaults, an optional YAML or JSON file,
 * environment variables (GRAPEVINE_ + the key in SCREAMING_SNAKE_CASE, e.g. grpcPort ->
 * GRAPEVINE_GRPC_PORT), and command-line flags. Validated once by a zod schema; a bad value
 * stops start-up with a message naming the key, where it came from and the allowed range.
 * The result is frozen.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const ENV_PREFIX = 'GRAPEVINE_';

export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

type Source = 'default' | 'file' | 'env' | 'flag';

export interface ConfigSources {
  /** Path of a YAML/JSON file with keys of the schema. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Values given on the command line, already keyed like the schema (undefined = not given). */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** Extra environment names for keys, e.g. { redisUrl: 'REDIS_URL' }. */
  readonly envAliases?: Readonly<Record<string, string>>;
}

export function loadConfig<S extends z.ZodObject>(schema: S, sources: ConfigSources): Readonly<z.infer<S>> {
  const keys = Object.keys(schema.shape);
  const merged: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  const put = (key: string, value: unknown, source: Source, detail: string) => {
    if (value === undefined) return;
    merged[key] = value;
    origin[key] = `${source} ${detail}`.trim();
  };

  if (sources.file) {
    const fromFile = readConfigFile(sources.file);
    for (const [key, value] of Object.entries(fromFile)) {
      if (!keys.includes(key)) {
        throw new ConfigError(`${sources.file}: unknown key ${JSON.stringify(key)}; known keys: ${keys.join(', ')}`);
      }
      put(key, value, 'file', sources.file);
    }
  }
  const env = sources.env ?? {};
  for (const key of keys) {
    const alias = sources.envAliases?.[key];
    if (alias && env[alias] !== undefined) put(key, env[alias], 'env', alias);
    const name = envName(key);
    if (env[name] !== undefined) put(key, env[name], 'env', name);
  }
  for (const [key, value] of Object.entries(sources.flags ?? {})) {
    if (keys.includes(key)) put(key, value, 'flag', `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }

  const result = schema.safeParse(merged);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const from = origin[key] ? ` (from ${origin[key]})` : '';
      return `  ${key || '(config)'}: ${issue.message}${from}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(result.data);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a mapping of keys to values`);
  }
  return parsed as Record<string, unknown>;
}

/** Reusable field schemas: env and flags arrive as strings, so numbers are coerced. */
export const fields = {
  port: () =>
    z.coerce
      .number()
      .int()
      .min(0, 'must be 0 (any free port) to 65535')
      .max(65_535, 'must be 0 (any free port) to 65535'),
  host: () => z.string().min(1, 'must be a host name or IP address'),
  ms: (min: number, max: number) =>
    z.coerce
      .number()
      .int(`must be a whole number of milliseconds`)
      .min(min, `must be at least ${min} ms`)
      .max(max, `must be at most ${max} ms`),
  seconds: (min: number, max: number) =>
    z.coerce
      .number()
      .int('must be a whole number of seconds')
      .min(min, `must be at least ${min} s`)
      .max(max, `must be at most ${max} s`),
  count: (min: number, max: number) =>
    z.coerce
      .number()
      .int('must be a whole number')
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  bool: () =>
    z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'], 'must be true or false')])
      .transform((value) => value === true || value === 'true' || value === '1'),
  /** A list: an array in a file, or comma-separated text from the environment and flags. */
  list: () =>
    z
      .union([z.array(z.string()), z.string()])
      .transform((value) =>
        (Array.isArray(value) ? value : value.split(',')).map((item) => item.trim()).filter((item) => item !== ''),
      ),
  /** Key/value labels: a map in a file, or "k=v,k=v" from the environment and flags. */
  labels: () =>
    z.union([z.record(z.string(), z.string()), z.string()]).transform((value, context) => {
      if (typeof value !== 'string') return value;
      const labels: Record<string, string> = {};
      for (const pair of value.split(',').map((item) => item.trim())) {
        if (pair === '') continue;
        const eq = pair.indexOf('=');
        if (eq <= 0) {
          context.addIssue({ code: 'custom', message: `label "${pair}" must be key=value` });
          return z.NEVER;
        }
        labels[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      return labels;
    }),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  redisUrl: () =>
    z
      .string()
      .refine(
        (text) => /^rediss?:\/\/[^\s]+$/.test(text) && URL.canParse(text),
        'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0',
      ),
};
