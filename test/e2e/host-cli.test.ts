/**
 * `grapevine host peers|send|flood|receive` as a person at a terminal uses them, against
 * `grapevine dev` and a `grapevine host` process: real processes, real sockets.
 */
import { freePort } from '../support/free-port';
import { GrapevineProcess, runGrapevine, runGrapevineSync } from '../support/processes';

interface DevHost {
  readonly peerId: string;
  /** The peer port. */
  readonly address: string;
}

interface DevAppHost extends DevHost {
  /** The application listener, where `grapevine host peers|send|flood|receive` go. */
  readonly app: string;
}

/** The hosts `grapevine dev` lists in its banner. */
function bannerHosts(output: string): DevAppHost[] {
  return [...output.matchAll(/^ {2}host \d+\s+grpc (\S+)\s+application (\S+)\s+peer (\S+)/gm)].map(
    ([, address, app, peerId]) => ({ address, app, peerId }),
  );
}

/** The introducer `grapevine dev` lists in its banner: a gossip member too, with an application listener. */
function bannerIntroducer(output: string): DevAppHost {
  const [, address, app, peerId] = /^ {2}introducer grpc (\S+)\s+application (\S+)\s+peer (\S+)/m.exec(output) ?? [];
  return { address, app, peerId };
}

/** Runs a short command until `done` accepts its result, or fails after timeoutMs. */
function retrySync(
  args: string[],
  done: (result: ReturnType<typeof runGrapevineSync>) => boolean,
  timeoutMs: number,
): ReturnType<typeof runGrapevineSync> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = runGrapevineSync(args);
    if (done(result)) return result;
    if (Date.now() > until) {
      throw new Error(`grapevine ${args.join(' ')} never gave the result wanted:\n${result.stdout}${result.stderr}`);
    }
  }
}

/** Resolves with the exit code, or undefined if the process still runs after ms. */
function exitWithin(process: GrapevineProcess, ms: number): Promise<number | string | undefined> {
  return Promise.race([
    process.exited(),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms)),
  ]);
}

interface HostPeersJson {
  peerId: string;
  address: string;
  peers: { peerId: string; address: string; view: string; suspected: boolean; incarnation: number }[];
}

const activePeers = (stdout: string) =>
  (JSON.parse(stdout) as HostPeersJson).peers.filter((peer) => peer.view === 'active');

describe('grapevine dev with its hosts', () => {
  let dev: GrapevineProcess;
  let directory: string;
  let hosts: DevAppHost[];
  let introducer: DevAppHost;

  beforeAll(async () => {
    const [grpcPort, metricsPort] = [await freePort(), await freePort()];
    dev = runGrapevine([
      'dev',
      '--directory-port',
      String(grpcPort),
      '--metrics-port',
      String(metricsPort),
      '--introducer-port',
      '0',
      '--introducer-metrics-port',
      '0',
      '--introducer-app-port',
      '0',
      '--host-ports',
      '0,0,0',
      '--host-app-ports',
      '0,0,0',
      '--host-metrics-ports',
      '0,0,0',
    ]);
    await dev.waitFor(/Ctrl-C stops everything/, 30_000);
    directory = `127.0.0.1:${grpcPort}`;
    hosts = bannerHosts(dev.output());
    introducer = bannerIntroducer(dev.output());
  }, 40_000);

  afterAll(async () => {
    if (!dev) return;
    dev.child.kill('SIGTERM');
    await dev.exited();
  });

  test('the banner lists the introducer, three hosts and the host commands to try', () => {
    expect(introducer.peerId).toMatch(/^b[a-z2-7]{52}$/);
    expect(hosts).toHaveLength(3);
    for (const host of hosts) expect(host.peerId).toMatch(/^b[a-z2-7]{52}$/);
    const output = dev.output();
    expect(output).toContain(`npx grapevine host peers --host-address ${hosts[0].app}`);
    expect(output).toContain(`npx grapevine host receive --host-address ${hosts[1].app}`);
    expect(output).toContain(`npx grapevine host flood hello --host-address ${hosts[0].app}`);
    expect(output).toContain(`npx grapevine host send ${hosts[1].peerId} hi --host-address ${hosts[0].app}`);
    expect(output).toContain(`npx grapevine host peers --host-address ${introducer.app}`);
  });

  test("host peers on the introducer's application listener lists every host it admitted", () => {
    const hostIds = hosts.map((host) => host.peerId).sort();
    const json = retrySync(
      ['host', 'peers', '--json', '--host-address', introducer.app],
      (result) => {
        if (result.code !== 0) return false;
        const known = (JSON.parse(result.stdout) as HostPeersJson).peers.map((peer) => peer.peerId);
        return hostIds.every((id) => known.includes(id));
      },
      20_000,
    );
    const parsed = JSON.parse(json.stdout) as HostPeersJson;
    expect(parsed).toMatchObject({ peerId: introducer.peerId, address: introducer.address });
    for (const host of hosts) {
      expect(parsed.peers.find((peer) => peer.peerId === host.peerId)?.address).toBe(host.address);
    }
  });

  test('the hosts find each other: host peers lists active neighbours, as JSON and as a table', () => {
    const json = retrySync(
      ['host', 'peers', '--json', '--host-address', hosts[0].app],
      (result) => result.code === 0 && activePeers(result.stdout).length >= 1,
      20_000,
    );
    const parsed = JSON.parse(json.stdout) as HostPeersJson;
    expect(parsed).toMatchObject({ peerId: hosts[0].peerId, address: hosts[0].address });
    // Neighbours are the other hosts and the introducer they joined through.
    const members = [...hosts.slice(1), introducer];
    const neighbour = activePeers(json.stdout)[0];
    expect(members.map((member) => member.peerId)).toContain(neighbour.peerId);
    expect(neighbour.address).toBe(members.find((member) => member.peerId === neighbour.peerId)?.address);

    const table = runGrapevineSync(['host', 'peers', '--host-address', hosts[0].app]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PEER ID\s+ADDRESS\s+VIEW\s+SUSPECTED\s+INCARNATION/);
    expect(table.stdout).toContain(`${neighbour.peerId}  ${neighbour.address}`);
    expect(table.stdout).toMatch(new RegExp(`\\d+ active and \\d+ passive peers of ${hosts[0].peerId}`));
  });

  test('a flood from host 1 reaches a receiver on host 2', async () => {
    const receiver = runGrapevine(['host', 'receive', '--count', '1', '--json', '--host-address', hosts[1].app]);
    // Receive does not say when the host has taken the stream in: flood until the receiver
    // has printed one message and exited.
    const until = Date.now() + 30_000;
    let code: number | string | undefined;
    while (code === undefined && Date.now() < until) {
      const flood = runGrapevineSync(['host', 'flood', 'hello', '--host-address', hosts[0].app]);
      expect(flood.code).toBe(0);
      expect(flood.stdout.trim()).not.toBe('');
      code = await exitWithin(receiver, 1_000);
    }
    expect(code).toBe(0);
    const lines = receiver.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ kind: 'flood', fromPeerId: hosts[0].peerId, payload: 'hello' });
  }, 60_000);

  test('host send delivers to one peer and prints the message id', async () => {
    const receiver = runGrapevine(['host', 'receive', '--count', '1', '--host-address', hosts[2].app]);
    const until = Date.now() + 30_000;
    let code: number | string | undefined;
    let messageId = '';
    while (code === undefined && Date.now() < until) {
      const send = runGrapevineSync(['host', 'send', hosts[2].peerId, 'hi there', '--host-address', hosts[0].app]);
      expect(send.code).toBe(0);
      messageId = send.stdout.trim();
      code = await exitWithin(receiver, 1_000);
    }
    expect(code).toBe(0);
    expect(messageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(receiver.output()).toBe(`direct  ${hosts[0].peerId}  hops=1  hi there\n`);
  }, 60_000);

  test('host send to a peer nobody knows exits 1 with the status and the host', () => {
    const result = runGrapevineSync(['host', 'send', 'b' + 'a'.repeat(52), 'x', '--host-address', hosts[0].app]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: host ${hosts[0].app}: NOT_FOUND: `);
  });

  test("a host's peer port refuses the application's calls, naming the port to use", () => {
    const result = runGrapevineSync(['host', 'peers', '--host-address', hosts[0].address]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: host ${hosts[0].address}: PERMISSION_DENIED: Peers is an application call`);
    expect(result.stderr).toContain('appPort');
  });

  test('the hosts register with the directory: peers list shows all three', () => {
    const list = retrySync(
      ['peers', 'list', '--directory', directory, '--output', 'json'],
      (result) => result.code === 0 && result.stdout.trim().split('\n').filter(Boolean).length >= 3,
      20_000,
    );
    const listed = list.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { peerId: string; addresses: string[] });
    for (const host of hosts) {
      expect(listed).toContainEqual(expect.objectContaining({ peerId: host.peerId, addresses: [host.address] }));
    }
  });
});

describe('grapevine host subcommands against a grapevine host process', () => {
  let host: GrapevineProcess;
  let peerId: string;
  let address: string;
  let app: string;

  beforeAll(async () => {
    // The role runs with its own flags in front of no subcommand.
    host = runGrapevine(['host', '--grpc-port', '0', '--app-port', '0', '--metrics', 'false', '--profile', 'local']);
    const line = await host.waitFor(/^\{"peerId"/, 30_000);
    const started = JSON.parse(line) as { peerId: string; address: string; application: string };
    ({ peerId, address } = started);
    app = started.application;
  }, 40_000);

  afterAll(async () => {
    if (!host) return;
    host.child.kill('SIGTERM');
    expect(await host.exited()).toBe(0);
  });

  test('host peers takes its address from --host-address or GRAPEVINE_HOST_ADDRESS', () => {
    const peers = runGrapevineSync(['host', 'peers', '--host-address', app, '--json']);
    expect(peers.code).toBe(0);
    expect(JSON.parse(peers.stdout)).toEqual({ peerId, address, peers: [] });
    const fromEnv = runGrapevineSync(['host', 'peers', '--json'], { GRAPEVINE_HOST_ADDRESS: app });
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ peerId });
  });

  test("the role's flags after a subcommand are refused, not taken as the role's", () => {
    const result = runGrapevineSync(['host', 'peers', '--grpc-port', '1', '--host-address', app]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unknown option '--grpc-port'/);
  });

  test('a bad --ttl is refused before any call', () => {
    const result = runGrapevineSync(['host', 'flood', 'x', '--ttl', '0', '--host-address', app]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--ttl <hops>.*must be a whole number from 1 to 255/);
  });

  test('exit 1 naming the address when no host listens there', async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const result = runGrapevineSync(['host', 'peers', '--host-address', closed]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: host ${closed}: UNAVAILABLE`);
  });
});

describe('grapevine host subcommands against a host with an appToken', () => {
  const TOKEN = 'terminal-s3cret';
  let host: GrapevineProcess;
  let app: string;

  beforeAll(async () => {
    // The role takes the token from its environment, where a deployment's secret would be.
    host = runGrapevine(['host', '--grpc-port', '0', '--app-port', '0', '--metrics', 'false', '--profile', 'local'], {
      GRAPEVINE_APP_TOKEN: TOKEN,
    });
    const line = await host.waitFor(/^\{"peerId"/, 30_000);
    app = (JSON.parse(line) as { application: string }).application;
  }, 40_000);

  afterAll(async () => {
    if (!host) return;
    host.child.kill('SIGTERM');
    expect(await host.exited()).toBe(0);
  });

  test('without the token: exit 1 with UNAUTHENTICATED and how to send it', () => {
    const result = runGrapevineSync(['host', 'peers', '--host-address', app], { GRAPEVINE_APP_TOKEN: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: host ${app}: UNAUTHENTICATED`);
    expect(result.stderr).toContain('--app-token');
  });

  test('with --app-token or GRAPEVINE_APP_TOKEN the calls go through', () => {
    const flagged = runGrapevineSync(['host', 'peers', '--host-address', app, '--app-token', TOKEN, '--json'], {
      GRAPEVINE_APP_TOKEN: '',
    });
    expect(flagged.code).toBe(0);
    expect(JSON.parse(flagged.stdout)).toMatchObject({ peers: [] });
    const fromEnv = runGrapevineSync(['host', 'flood', 'hello', '--host-address', app], { GRAPEVINE_APP_TOKEN: TOKEN });
    expect(fromEnv.code).toBe(0);
  });
});
