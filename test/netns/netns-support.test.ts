/**
 * The multi-host test library (test/support/netns.ts) against real sockets: a small TCP server runs
 * inside each host's namespace and clients run inside the others, all started with exec().
 */
import { ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { createTestNetwork, removeStaleTestNamespaces, TestNetwork } from '../support/netns';

/** Every namespace has its own ports, so one fixed port serves every host. */
const PORT = 7_000;
/** Long enough for a connect over a bridge (a few ms), short enough to keep the suite fast. */
const CONNECT_TIMEOUT_MS = 500;
const START_TIMEOUT_MS = 5_000;

/** argv: address, port. Greets each client with its own address so the client can tell who answered. */
const SERVER = `
const [address, port] = process.argv.slice(1);
require('node:net')
  .createServer((socket) => {
    socket.on('error', () => {});
    socket.end('hello from ' + address);
  })
  .listen(Number(port), address, () => console.log('listening'));
`;

/** argv: address, port, timeout ms. Prints the greeting, "timeout", or the error code. */
const CLIENT = `
const [address, port, timeoutMs] = process.argv.slice(1);
const socket = require('node:net').connect({ host: address, port: Number(port), timeout: Number(timeoutMs) });
const finish = (outcome) => {
  console.log(outcome);
  process.exit(0);
};
socket.on('data', (data) => finish(data.toString()));
socket.on('timeout', () => finish('timeout'));
socket.on('error', (error) => finish(error.code));
`;

function namespaceNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** Resolves with everything the process wrote once it exits. */
function outputOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', () => resolve(output.trim()));
  });
}

async function startServer(network: TestNetwork, hostIndex: number): Promise<ChildProcess> {
  const address = network.hosts[hostIndex]!.address;
  const server = network.exec(hostIndex, process.execPath, ['-e', SERVER, address, String(PORT)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`server on ${address} did not start:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server on ${address} exited with ${code}:\n${output}`));
    });
  });
  return server;
}

/** What a client on host `from` gets when it connects to host `to`. */
function connect(network: TestNetwork, from: number, to: number): Promise<string> {
  const client = network.exec(
    from,
    process.execPath,
    ['-e', CLIENT, network.hosts[to]!.address, String(PORT), String(CONNECT_TIMEOUT_MS)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return outputOf(client);
}

const greeting = (network: TestNetwork, hostIndex: number): string => `hello from ${network.hosts[hostIndex]!.address}`;

describe('test networks in namespaces', () => {
  let network: TestNetwork;

  beforeAll(async () => {
    network = await createTestNetwork({ hosts: 3 });
    await Promise.all([0, 1, 2].map((i) => startServer(network, i)));
  });

  afterEach(async () => {
    await network.heal();
    await Promise.all([0, 1, 2].map((i) => network.linkUp(i)));
  });

  afterAll(async () => {
    await network?.destroy();
  });

  it('gives each host its own address and lets every host reach every other', async () => {
    expect(network.hosts.map((host) => host.name)).toEqual(['host0', 'host1', 'host2']);
    expect(new Set(network.hosts.map((host) => host.address)).size).toBe(3);
    for (const host of network.hosts) expect(host.address).toMatch(/^10\.213\.\d+\.[123]$/);

    expect(await connect(network, 1, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 2, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 0, 2)).toBe(greeting(network, 2));
  });

  it('gives hosts no route out of the test network', async () => {
    const routes = await outputOf(
      network.exec(0, 'ip', ['-4', 'route', 'show'], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    const subnet = network.hosts[0]!.address.replace(/\.\d+$/, '.0/24');
    expect(routes.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${subnet.replace(/\./g, '\\.')} dev eth0 `)),
    ]);
  });

  it('passes the environment through exec', async () => {
    const child = network.exec(0, process.execPath, ['-e', 'console.log(process.env.NETNS_PROBE)'], {
      env: { ...process.env, NETNS_PROBE: 'passed through' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(await outputOf(child)).toBe('passed through');
  });

  it('cuts traffic between the groups of a partition while each group keeps talking inside', async () => {
    expect(await connect(network, 1, 0)).toBe(greeting(network, 0));

    await network.partition([0], [1, 2]);

    // Silent drops, as in a real partition: the connect times out instead of failing at once.
    expect(await connect(network, 1, 0)).toBe('timeout');
    expect(await connect(network, 2, 0)).toBe('timeout');
    expect(await connect(network, 0, 2)).toBe('timeout');
    expect(await connect(network, 1, 2)).toBe(greeting(network, 2));
    expect(await connect(network, 2, 1)).toBe(greeting(network, 1));
  });

  it('cuts only the named pairs, so a host in neither group reaches both sides', async () => {
    await network.partition([0], [1]);

    expect(await connect(network, 1, 0)).toBe('timeout');
    expect(await connect(network, 2, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 2, 1)).toBe(greeting(network, 1));
  });

  it('rejects a partition whose groups share a host, or a host that does not exist', async () => {
    await expect(network.partition([0, 1], [1, 2])).rejects.toThrow(RangeError);
    await expect(network.partition([0], [3])).rejects.toThrow(RangeError);
  });

  it('restores every cut path on heal', async () => {
    await network.partition([0], [1, 2]);
    await network.partition([1], [2]);
    expect(await connect(network, 1, 2)).toBe('timeout');

    await network.heal();

    expect(await connect(network, 1, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 2, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 1, 2)).toBe(greeting(network, 2));
  });

  it('takes one host off the network on linkDown until linkUp', async () => {
    await network.linkDown(1);

    expect(await connect(network, 1, 0)).toBe('timeout');
    expect(await connect(network, 0, 1)).toBe('timeout');
    expect(await connect(network, 2, 0)).toBe(greeting(network, 0));

    await network.linkUp(1);

    expect(await connect(network, 1, 0)).toBe(greeting(network, 0));
    expect(await connect(network, 0, 1)).toBe(greeting(network, 1));
  });
});

describe('test network cleanup', () => {
  it('kills what exec started and leaves no namespace behind on destroy, twice', async () => {
    const network = await createTestNetwork({ hosts: 2 });
    const namespaces = [network.switchNamespace, ...network.hosts.map((host) => host.namespace)];
    expect(namespaceNames()).toEqual(expect.arrayContaining(namespaces));
    const server = await startServer(network, 0);
    const serverExited = new Promise((resolve) => server.once('exit', (_code, signal) => resolve(signal)));

    await network.destroy();
    await network.destroy();

    expect(await serverExited).toBe('SIGKILL');
    const base = network.switchNamespace.replace(/-sw$/, '');
    expect(namespaceNames().filter((name) => name.startsWith(base))).toEqual([]);
    expect(() => network.exec(0, 'true')).toThrow(/destroyed/);
  });

  it('removes leftovers of dead processes and keeps those of live ones', async () => {
    // A prefix of its own, so parallel runs of this suite never remove each other's fakes.
    const prefix = `gvstale${process.pid}`;
    const deadPid = spawnSync('true').pid;
    const stale = `${prefix}-${deadPid}-0000aa-sw`;
    const live = `${prefix}-${process.ppid}-0000bb-sw`;
    execFileSync('ip', ['netns', 'add', stale]);
    execFileSync('ip', ['netns', 'add', live]);
    try {
      expect(await removeStaleTestNamespaces(prefix)).toEqual([stale]);
      const remaining = namespaceNames();
      expect(remaining).not.toContain(stale);
      expect(remaining).toContain(live);
    } finally {
      for (const name of [stale, live]) if (namespaceNames().includes(name)) execFileSync('ip', ['netns', 'del', name]);
    }
  });
});
