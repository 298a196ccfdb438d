/** The `grapevine` binary as a person at a terminal uses it: real processes, real sockets. */
import { ServiceError, status } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryClient } from '../../services/client/directory-client';
import { identityFromPem } from '../../services/common/identity';
import { freePort } from '../support/free-port';
import { runGrapevine, runGrapevineSync } from '../support/processes';
import { generateIdentity, signed } from '../support/records';

const dir = mkdtempSync(join(tmpdir(), 'grapevine-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('keygen writes a 0600 key file and prints its peer id; it will not overwrite without --force', () => {
  const file = join(dir, 'a.key');
  const result = runGrapevineSync(['keygen', '--out', file]);
  expect(result.code).toBe(0);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(result.stdout.trim()).toBe(identityFromPem(readFileSync(file, 'utf8')).peerId);
  const again = runGrapevineSync(['keygen', '--out', file]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/exists; pass --force/);
});

test('a bad setting stops the directory at start with a message naming it, exit code 2', () => {
  const result = runGrapevineSync([
    'directory',
    '--grpc-port',
    '99999',
    '--min-ttl-seconds',
    '9',
    '--max-ttl-seconds',
    '5',
  ]);
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/grpcPort: must be 0 \(any free port\) to 65535 \(from flag --grpc-port\)/);
  expect(result.stderr).toMatch(/minTtlSeconds \(9\) must not exceed maxTtlSeconds \(5\)/);
});

describe('a running directory process', () => {
  test('peers list/resolve answer as table and JSON; SIGTERM ends watches with UNAVAILABLE and exits 0', async () => {
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    const directory = runGrapevine([
      'directory',
      '--grpc-port',
      String(grpcPort),
      '--metrics-port',
      String(metricsPort),
    ]);
    await directory.waitFor(/directory serving/);
    const address = `127.0.0.1:${grpcPort}`;

    const client = new DirectoryClient(address);
    const peer = generateIdentity();
    await client.register(signed(peer, { name: 'web', labels: { tier: 'edge' } }));

    const table = runGrapevineSync(['peers', 'list', '--directory', address]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PEER ID\s+NAME\s+ADDRESSES\s+LABELS\s+SEQ\s+TTL/);
    expect(table.stdout).toContain(`${peer.peerId}  web`);
    expect(table.stdout).toMatch(/1 peers at revision \d+/);

    const json = runGrapevineSync(['peers', 'resolve', 'web', '--directory', address, '--output', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ peerId: peer.peerId, name: 'web', labels: { tier: 'edge' } });

    const missing = runGrapevineSync(['peers', 'resolve', 'nobody', '--directory', address]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/NOT_FOUND|no live name nobody/);

    // A raw watch stream, to see the status the server ends it with.
    const watchEnded = new Promise<string>((resolve) => {
      const stream = (client as unknown as { client: { watch(r: object): NodeJS.EventEmitter } }).client.watch({
        network: 'default',
      });
      stream.on('data', () => undefined);
      stream.on('error', (error: ServiceError) => resolve(status[error.code]));
      stream.on('end', () => resolve('END'));
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    directory.child.kill('SIGTERM');
    expect(await watchEnded).toBe('UNAVAILABLE');
    expect(await directory.exited()).toBe(0);
    expect(directory.output()).toMatch(/directory stopped/);
    client.close();
  });
});
