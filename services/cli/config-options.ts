/**
 * Turns a role's config schema into command-line flags (one per key, described by the schema),
 * and reads the role's config from flags, environment and an optional --config file.
 */
import { Command, Option } from 'commander';
import { z } from 'zod';
import { ConfigSources, envName, loadConfig } from '../common/config';

function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (char) => `-${char.toLowerCase()}`);
}

export function addConfigOptions(command: Command, schema: z.ZodObject): Command {
  command.addOption(new Option('--config <file>', 'YAML or JSON file of settings (flags and environment win over it)'));
  for (const [key, field] of Object.entries(schema.shape)) {
    const described = field as z.ZodType & { description?: string; def?: { defaultValue?: unknown } };
    const fallback = described.def?.defaultValue;
    const shownDefault = fallback === '' || fallback === undefined ? '' : ` (default: ${String(fallback)})`;
    // A switch may stand alone (`--plaintext` means true) or take a value (`--metrics false`).
    const value = typeof fallback === 'boolean' ? '[value]' : '<value>';
    command.addOption(
      new Option(`--${flagName(key)} ${value}`, `${described.description ?? key}${shownDefault}; env ${envName(key)}`),
    );
  }
  return command;
}

export function readConfig<S extends z.ZodObject>(
  schema: S,
  options: Record<string, unknown>,
  extra: Pick<ConfigSources, 'envAliases'> = {},
): Readonly<z.infer<S>> {
  const flags: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    if (options[key] !== undefined) flags[key] = options[key];
  }
  return loadConfig(schema, { file: options.config as string | undefined, env: process.env, flags, ...extra });
}
