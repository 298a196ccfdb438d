import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directoryConfigSchema } from '../directory/config';
import { hostConfigSchema } from '../host/config';

/** TLS is the default and needs certificate files; these tests choose plaintext explicitly. */
const PLAINTEXT = { GRAPEVINE_PLAINTEXT: 'true' };
import { ConfigError, envName, loadConfig } from './config';

const dir = mkdtempSync(join(tmpdir(), 'grapevine-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function fileWith(text: string): string {
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, text);
  return path;
}

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('environment names are GRAPEVINE_ and the key in SCREAMING_SNAKE_CASE', () => {
    expect(envName('grpcPort')).toBe('GRAPEVINE_GRPC_PORT');
    expect(envName('defaultTtlSeconds')).toBe('GRAPEVINE_DEFAULT_TTL_SECONDS');
  });

  test('defaults apply when nothing else is given, and the result is frozen', () => {
    const config = loadConfig(directoryConfigSchema, { env: PLAINTEXT });
    expect(config).toEqual(directoryConfigSchema.parse({ plaintext: true }));
    expect(config.grpcPort).toBe(7_400);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('TLS is the default: without certificate files or plaintext the server does not start', () => {
    expect(messageOf(() => loadConfig(directoryConfigSchema, {}))).toMatch(
      /tlsCertFile: TLS needs a certificate: set tlsCertFile and tlsKeyFile .* or plaintext=true/,
    );
  });

  test('flags win over environment, environment over file, file over defaults', () => {
    const file = fileWith('grpcPort: 1000\nmetricsPort: 1001\nsweepIntervalMs: 1002\n');
    const config = loadConfig(directoryConfigSchema, {
      file,
      env: { ...PLAINTEXT, GRAPEVINE_METRICS_PORT: '2001', GRAPEVINE_SWEEP_INTERVAL_MS: '2002' },
      flags: { sweepIntervalMs: '3002' },
    });
    expect([config.grpcPort, config.metricsPort, config.sweepIntervalMs]).toEqual([1000, 2001, 3002]);
  });

  test('REDIS_URL is read through its alias', () => {
    const config = loadConfig(directoryConfigSchema, {
      env: { ...PLAINTEXT, REDIS_URL: 'redis://127.0.0.1:6390/0' },
      envAliases: { redisUrl: 'REDIS_URL' },
    });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6390/0');
  });

  test('a bad value names the key, its source and the allowed range', () => {
    expect(messageOf(() => loadConfig(directoryConfigSchema, { env: { GRAPEVINE_GRPC_PORT: '70000' } }))).toMatch(
      /grpcPort: must be 0 \(any free port\) to 65535 \(from env GRAPEVINE_GRPC_PORT\)/,
    );
    expect(messageOf(() => loadConfig(directoryConfigSchema, { flags: { redisUrl: 'http://x' } }))).toMatch(
      /redisUrl: must be a redis:\/\/ or rediss:\/\/ URL.*\(from flag --redis-url\)/,
    );
    expect(messageOf(() => loadConfig(directoryConfigSchema, { flags: { metrics: 'maybe' } }))).toMatch(/metrics/);
  });

  test('a keepalive too short to be a ping interval is refused, by every role', () => {
    expect(
      messageOf(() => loadConfig(directoryConfigSchema, { env: { ...PLAINTEXT, GRAPEVINE_KEEPALIVE_MS: '10' } })),
    ).toMatch(/keepaliveMs: must be at least 1000 ms \(from env GRAPEVINE_KEEPALIVE_MS\)/);
    expect(
      messageOf(() => loadConfig(hostConfigSchema, { env: PLAINTEXT, flags: { keepaliveTimeoutMs: '0' } })),
    ).toMatch(/keepaliveTimeoutMs: must be at least 100 ms \(from flag --keepalive-timeout-ms\)/);
    const config = loadConfig(hostConfigSchema, { env: PLAINTEXT });
    expect([config.keepaliveMs, config.keepaliveTimeoutMs]).toEqual([60_000, 20_000]);
  });

  test("a host's appToken with a space is refused: no Bearer value could carry it", () => {
    expect(
      messageOf(() => loadConfig(hostConfigSchema, { env: { ...PLAINTEXT, GRAPEVINE_APP_TOKEN: 'two words' } })),
    ).toMatch(/appToken: must not contain spaces or line breaks \(from env GRAPEVINE_APP_TOKEN\)/);
    expect(loadConfig(hostConfigSchema, { env: { ...PLAINTEXT, GRAPEVINE_APP_TOKEN: 'one-word' } }).appToken).toBe(
      'one-word',
    );
  });

  test('contradictory settings are rejected, not resolved', () => {
    expect(
      messageOf(() => loadConfig(directoryConfigSchema, { flags: { minTtlSeconds: '60', maxTtlSeconds: '30' } })),
    ).toMatch(/minTtlSeconds \(60\) must not exceed maxTtlSeconds \(30\)/);
  });

  test('an unknown key in a file is named, with the known keys', () => {
    expect(messageOf(() => loadConfig(directoryConfigSchema, { file: fileWith('grpcprot: 1\n') }))).toMatch(
      /unknown key "grpcprot"; known keys: host, grpcPort/,
    );
  });

  test('an unreadable or malformed file is reported as such', () => {
    expect(messageOf(() => loadConfig(directoryConfigSchema, { file: '/nonexistent/grapevine.yaml' }))).toMatch(
      /cannot read config file/,
    );
    expect(messageOf(() => loadConfig(directoryConfigSchema, { file: fileWith('[1, 2') }))).toMatch(/not valid YAML/);
    expect(messageOf(() => loadConfig(directoryConfigSchema, { file: fileWith('- 1\n') }))).toMatch(/mapping/);
  });

  test('booleans accept true/false/1/0 only', () => {
    expect(loadConfig(directoryConfigSchema, { env: { ...PLAINTEXT, GRAPEVINE_METRICS: 'false' } }).metrics).toBe(
      false,
    );
    expect(loadConfig(directoryConfigSchema, { env: { ...PLAINTEXT, GRAPEVINE_METRICS: '1' } }).metrics).toBe(true);
  });
});
