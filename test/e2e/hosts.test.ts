/**
 * Hosts as users run them: real `grapevine host` processes on loopback ports, a real directory
 * process, SIGKILL for a crash and SIGTERM for a stop.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { DirectoryClient } from '../../services/client/directory-client';
import { MessageKind, PeerView, type ReceiveResponse } from '../../services/gen/grapevine/v1/host';
import { PEER_CACHE_FILE } from '../../services/host/server';
import { localConfig } from '../../services/membership';
import { freePort } from '../support/free-port';
import { activePeers, call, startHostProcess, waitUntil, type HostProcess } from '../support/hosts';
import { runGrapevine, type GrapevineProcess } from '../support/processes';

const membership = localConfig();
/**
 * Probes go round-robin over the active view, one a period: the dead peer's turn comes within
 * activeViewSize periods. Then the probe's timeout, the longest suspicion, and a second of slack.
 */
const DETECT_WITHIN_MS =
  membership.activeViewSize * membership.probeIntervalMs +
  membership.probeTimeoutMs +
  membership.suspicionMaxMs +
  1_000;

jest.setTimeout(90_000);

async function stopAll(hosts: readonly (HostProcess | undefined)[]): Promise<void> {
  for (const host of hosts) {
    if (!host) continue;
    host.client.close();
    if (host.process.child.exitCode === null) host.process.child.kill('SIGTERM');
  }
  await Promise.all(hosts.map((h) => h?.process.exited()));
}

const activeOf = async (host: HostProcess) => activePeers(await call(host.app, host.app.peers, {}));

describe('eight host processes joining through one seed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'grapevine-hosts-'));
  const hosts: HostProcess[] = [];
  const received: string[][] = [];
  const streams: ClientReadableStream<ReceiveResponse>[] = [];
  const args = (i: number) => ['--data-dir', join(dir, `h${i}`), '--key-file', join(dir, `h${i}`, 'key.pem')];

  beforeAll(async () => {
    hosts.push(await startHostProcess(args(0)));
    hosts.push(
      ...(await Promise.all(
        [1, 2, 3, 4, 5, 6, 7].map((i) => startHostProcess([...args(i), '--seeds', hosts[0].address])),
      )),
    );
    hosts.forEach((host, i) => {
      received[i] = [];
      const stream = host.app.receive({});
      stream.on('data', (m: ReceiveResponse) => {
        if (m.kind === MessageKind.MESSAGE_KIND_FLOOD) received[i].push(m.payload.toString());
      });
      stream.on('error', () => {});
      streams.push(stream);
    });
  });

  afterAll(async () => {
    streams.forEach((s) => s.cancel());
    await stopAll(hosts);
    rmSync(dir, { recursive: true, force: true });
  });

  test('every active view fills', async () => {
    let sizes: number[] = [];
    await waitUntil(
      async () => {
        sizes = (await Promise.all(hosts.map(activeOf))).map((a) => a.length);
        return sizes.every((n) => n === membership.activeViewSize);
      },
      20_000,
      `every host to hold ${membership.activeViewSize} active neighbours`,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; active view sizes: ${sizes.join(',')}`);
    });
  });

  test('a flood from one host reaches all the others, once each', async () => {
    await call(hosts[3].app, hosts[3].app.flood, {
      messageId: '',
      ttl: 0,
      hops: 0,
      payload: Buffer.from('from-3'),
      originPeerId: '',
    });
    await waitUntil(
      () => hosts.every((_, i) => i === 3 || received[i].includes('from-3')),
      5_000,
      'the flood to reach every host',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    hosts.forEach((_, i) => expect(received[i].filter((t) => t === 'from-3')).toHaveLength(i === 3 ? 0 : 1));
  });

  test('kill -9 of a host: its neighbours declare it dead, or forget it, within the configured time', async () => {
    const victim = hosts[7];
    const neighbours: HostProcess[] = [];
    for (const host of hosts.slice(0, 7)) if ((await activeOf(host)).includes(victim.peerId)) neighbours.push(host);
    expect(neighbours.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    victim.process.child.kill('SIGKILL');
    await victim.process.exited();
    const dead = new RegExp(`"peer":"${victim.peerId}","cause":"(timeout|gossip)"`);
    const declared = (n: HostProcess) => dead.test(n.process.output());
    // Where a neighbour stands: declared it dead, still holds it (in which view, suspected or
    // not), or forgot it. A neighbour can lose the link before its own probe fails (a neighbour
    // request from another peer evicts the dead one from its full active view) and then drop it
    // from the passive view when it does not answer: it holds nothing left to declare dead.
    const standing = async (n: HostProcess): Promise<string> => {
      if (declared(n)) return 'declared dead';
      const entry = (await call(n.app, n.app.peers, {})).peers.find((p) => p.peerId === victim.peerId);
      return entry ? `${PeerView[entry.view]}${entry.suspected ? ', suspected' : ''}` : 'forgotten';
    };
    let standings: string[] = [];
    await waitUntil(
      async () => {
        standings = await Promise.all(neighbours.map(standing));
        return standings.every((s) => s === 'declared dead' || s === 'forgotten');
      },
      DETECT_WITHIN_MS,
      'every neighbour to declare it dead or forget it',
    ).catch((error: Error) => {
      throw new Error(`${error.message}; neighbours: ${standings.join('; ')}`);
    });
    expect(Date.now() - killedAt).toBeLessThanOrEqual(DETECT_WITHIN_MS);
    // A log line travels through a pipe and can reach this process after the same host's Peers
    // answer that no longer lists the victim: give the declarations a moment to arrive.
    await expect(Promise.any(neighbours.map((n) => n.process.waitFor(dead, 2_000)))).resolves.toMatch(dead);
    for (const active of await Promise.all(neighbours.map(activeOf))) expect(active).not.toContain(victim.peerId);
  });

  test('a host restarted with its peer cache and no seeds rejoins with the same identity', async () => {
    const index = 5;
    const old = hosts[index];
    old.process.child.kill('SIGTERM');
    expect(await old.process.exited()).toBe(0);
    old.client.close();
    const cache = JSON.parse(readFileSync(join(dir, `h${index}`, PEER_CACHE_FILE), 'utf8')) as { peers: unknown[] };
    expect(cache.peers.length).toBeGreaterThan(0);

    const restarted = await startHostProcess(args(index));
    hosts[index] = restarted;
    expect(restarted.peerId).toBe(old.peerId);
    await waitUntil(
      async () => (await activeOf(restarted)).length > 0,
      10_000,
      'the restarted host to find a neighbour',
    );
    await restarted.process.waitFor(/"source":"cache".*joined the network/, 1_000);
  });
});

describe('hosts with a directory', () => {
  let directory: GrapevineProcess | undefined;
  let directoryAddress = '';
  const hosts: HostProcess[] = [];

  async function startDirectory(port: number): Promise<GrapevineProcess> {
    const process = runGrapevine(['directory', '--grpc-port', String(port), '--metrics-port', '0']);
    await process.waitFor(/directory serving/);
    return process;
  }

  const listed = async () => {
    const client = new DirectoryClient(directoryAddress);
    try {
      return (await client.listAll('default')).peers.map((p) => p.record.peerId).sort();
    } finally {
      client.close();
    }
  };

  beforeAll(async () => {
    const port = await freePort();
    directoryAddress = `127.0.0.1:${port}`;
    directory = await startDirectory(port);
    const withDirectory = ['--directory', directoryAddress, '--directory-ttl-seconds', '6'];
    hosts.push(await startHostProcess(withDirectory));
    hosts.push(await startHostProcess([...withDirectory, '--seeds', hosts[0].address]));
  });

  afterAll(async () => {
    await stopAll(hosts);
    directory?.child.kill('SIGTERM');
    await directory?.exited();
  });

  test('hosts register; after the directory loses everything they register again', async () => {
    const ids = hosts.map((h) => h.peerId).sort();
    await waitUntil(async () => JSON.stringify(await listed()) === JSON.stringify(ids), 10_000, 'both hosts listed');

    // A restarted in-memory directory has forgotten every lease: renewals answer NOT_FOUND.
    directory!.child.kill('SIGKILL');
    await directory!.exited();
    const port = Number(directoryAddress.split(':')[1]);
    directory = await startDirectory(port);
    await waitUntil(
      async () => JSON.stringify(await listed()) === JSON.stringify(ids),
      10_000,
      'both hosts listed again',
    );
    await hosts[0].process.waitFor(/directory lease lost/, 1_000);
  });

  test('gossip and floods go on while the directory is down', async () => {
    directory!.child.kill('SIGKILL');
    await directory!.exited();
    directory = undefined;
    const stream = hosts[1].app.receive({});
    const got: string[] = [];
    stream.on('data', (m: ReceiveResponse) => got.push(m.payload.toString()));
    stream.on('error', () => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    await call(hosts[0].app, hosts[0].app.flood, {
      messageId: '',
      ttl: 0,
      hops: 0,
      payload: Buffer.from('no-directory'),
      originPeerId: '',
    });
    await waitUntil(() => got.includes('no-directory'), 5_000, 'the flood without a directory');
    stream.cancel();
    expect(await activeOf(hosts[0])).toContain(hosts[1].peerId);
  });

  test('SIGTERM deregisters the host', async () => {
    const port = Number(directoryAddress.split(':')[1]);
    directory = await startDirectory(port);
    await waitUntil(async () => (await listed()).length === 2, 10_000, 'both hosts listed once more');
    hosts[1].process.child.kill('SIGTERM');
    expect(await hosts[1].process.exited()).toBe(0);
    expect(await listed()).toEqual([hosts[0].peerId]);
  });
});
