/**
 * Several hosts on one machine, each with its own address, for tests that need real processes
 * talking over real sockets. Every network is one namespace per host plus a "switch" namespace
 * holding a Linux bridge: host i has interface eth0 with 10.213.<n>.<i+1>/24, and the other end of
 * its veth pair is port p<i> of bridge br0 in the switch. Interfaces only ever exist inside these
 * namespaces, so their names cannot clash between networks, and the root namespace never changes.
 *
 * Addresses: each network takes a /24 from 10.213.0.0/16 (TEST_SUBNET), a block the CI machine does
 * not use (its only network is 192.0.2.0/24); createTestNetwork refuses to run when the root
 * namespace has a route inside the block. Host namespaces have no default route, so a process
 * started with exec() reaches its own loopback and the hosts of its own network and nothing else
 * (any other address fails with ENETUNREACH before a packet leaves). The test process itself lives
 * in the root namespace and cannot reach the hosts: run clients with exec().
 *
 * Partitions: partition(a, b) gives every host in a a permanent ARP entry that maps each address in
 * b to UNREACHABLE_MAC, a MAC address no interface has, and the reverse. Frames sent to it are
 * flooded by the bridge and dropped by every host, so packets vanish without an error, as they do
 * in a real partition: connects time out and open connections stall. Only the named pairs are cut,
 * so each group keeps talking inside, a host in neither group still reaches both sides (the case
 * where indirect probes matter), and several partitions add up. heal() deletes those entries.
 * Only unicast IPv4 between the hosts' addresses is cut; broadcast still crosses, and IPv6 is off
 * (no link-local address is generated) so it cannot bypass a partition.
 * Why this and not something in the switch: this machine has no nft, iptables or ebtables binary,
 * the kernel has no bridge VLAN filtering and no tc drop action, blackhole routes fail at once with
 * EINVAL (a partition is silent), and moving ports to a second bridge can only split all hosts into
 * groups, not cut single pairs.
 *
 * linkDown(i) sets port p<i> down in the switch: the cable is pulled. The host keeps its address
 * and its processes keep running; its packets are dropped, and a connect to a host it has no ARP
 * entry for fails with EHOSTUNREACH after about 3 s (ARP gives up) unless a shorter timeout fires.
 * linkUp(i) puts the cable back and clears the ARP entries to and from the host (partitions stay),
 * so it is reachable at once instead of after ARP's next retry.
 *
 * Cleanup: destroy() kills what exec() started (and anything else still inside the namespaces) and
 * deletes the namespaces, which takes their veths and bridge with them. A test that never calls it
 * is cleaned up by an 'exit' handler when the process ends normally. A killed process leaves its
 * namespaces behind; their names carry its pid, and removeStaleTestNamespaces (which
 * createTestNetwork runs once per prefix) deletes those whose pid is gone.
 *
 * Requirements: root (CAP_SYS_ADMIN and CAP_NET_ADMIN), a kernel with network namespaces, veth and
 * bridge, and `ip` from the Debian package iproute2 (apt-get install -y iproute2). Nothing else.
 */
import { ChildProcess, SpawnOptions, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The block every test network takes a /24 from. */
export const TEST_SUBNET = '10.213.0.0/16';
const SUBNET_FIRST_OCTETS = '10.213';
export const DEFAULT_NAMESPACE_PREFIX = 'gvtest';
/** Prefixes have no '-', so `<prefix>-<pid>-` can never match another prefix's names. */
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
/** Host i gets .i+1; .255 is the broadcast address. */
const MAX_HOSTS = 254;
/**
 * Locally administered unicast, not in use: veth MAC addresses are random, so one matching it is a
 * 1 in 2^46 chance.
 */
const UNREACHABLE_MAC = '02:00:00:00:00:01';
const BRIDGE = 'br0';
const HOST_INTERFACE = 'eth0';
/** How long destroy() waits for a killed process to exit, in ms. */
const KILL_WAIT_MS = 2_000;
/** Where Debian's iproute2 installs ip, looked at after PATH (which may lack /usr/sbin). */
const IP_FALLBACKS = ['/usr/sbin/ip', '/sbin/ip'];

export interface TestHost {
  /** host0, host1, ... */
  readonly name: string;
  /** The network namespace the host's processes run in. */
  readonly namespace: string;
  /** The host's IPv4 address (no prefix length); its interface has it as a /24. */
  readonly address: string;
}

export interface TestNetworkOptions {
  /** How many hosts, 1 to 254. */
  readonly hosts: number;
  /** Starts every namespace name; lowercase letters and digits, default DEFAULT_NAMESPACE_PREFIX. */
  readonly prefix?: string;
}

export interface TestNetwork {
  readonly hosts: readonly TestHost[];
  /** The namespace holding the bridge, for looking around while debugging. */
  readonly switchNamespace: string;
  /**
   * Starts `command args` inside host hostIndex's namespace. Options (stdio, env, cwd, ...) go to
   * spawn unchanged; the returned process is the command itself, since `ip netns exec` execs it.
   */
  exec(hostIndex: number, command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Cuts every path between a host of groupA and a host of groupB, both ways. Groups must not overlap. */
  partition(groupA: readonly number[], groupB: readonly number[]): Promise<void>;
  /** Undoes every partition. Links taken down stay down. */
  heal(): Promise<void>;
  /** Takes the host off the network, as if its cable were pulled. */
  linkDown(hostIndex: number): Promise<void>;
  /** Puts the host back on the network. */
  linkUp(hostIndex: number): Promise<void>;
  /** Kills what is still running inside and removes every namespace. Safe to call twice. */
  destroy(): Promise<void>;
}

/** Synchronous cleanups of the networks not yet destroyed, run when the process exits. */
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;
/** Every namespace this process created, so leftovers carrying a reused pid can be told apart. */
const createdHere = new Set<string>();
const cleanedPrefixes = new Set<string>();
let subnetChecked = false;
let networkSerial = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const cleanup of exitCleanups) cleanup();
  });
}

export async function createTestNetwork(options: TestNetworkOptions): Promise<TestNetwork> {
  const count = options.hosts;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new RangeError(`hosts must be an integer from 1 to ${MAX_HOSTS}, got ${count}`);
  }
  const prefix = checkedPrefix(options.prefix ?? DEFAULT_NAMESPACE_PREFIX);
  const ip = requireIp();
  requireRoot();
  await requireFreeSubnet(ip);
  if (!cleanedPrefixes.has(prefix)) {
    cleanedPrefixes.add(prefix);
    await removeStaleTestNamespaces(prefix);
  }

  const thirdOctet = networkSerial++ % 256;
  const base = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const switchNamespace = `${base}-sw`;
  const hosts: TestHost[] = Array.from({ length: count }, (_, i) => ({
    name: `host${i}`,
    namespace: `${base}-h${i}`,
    address: `${SUBNET_FIRST_OCTETS}.${thirdOctet}.${i + 1}`,
  }));
  const namespaces = [switchNamespace, ...hosts.map((host) => host.namespace)];
  const children = new Set<ChildProcess>();
  let destroying: Promise<void> | undefined;

  const destroySync = (): void => {
    for (const child of children) if (isRunning(child)) child.kill('SIGKILL');
    for (const namespace of namespaces) {
      try {
        const pids = execFileSync(ip, ['netns', 'pids', namespace], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        killAll(pids);
        execFileSync(ip, ['netns', 'del', namespace], { stdio: 'ignore' });
      } catch {
        // Already gone, or not made yet.
      }
    }
  };
  installExitHook();
  exitCleanups.add(destroySync);
  for (const namespace of namespaces) createdHere.add(namespace);

  const destroy = (): Promise<void> =>
    (destroying ??= (async () => {
      await killChildren(children);
      await killNamespaceProcesses(ip, namespaces);
      await deleteNamespaces(ip, namespaces);
      exitCleanups.delete(destroySync);
    })());

  const host = (index: number): TestHost => {
    if (destroying) throw new Error(`test network ${base} was destroyed`);
    const found = Number.isInteger(index) ? hosts[index] : undefined;
    if (!found) throw new RangeError(`no host ${index}: the network has hosts 0 to ${count - 1}`);
    return found;
  };
  const setPort = async (index: number, state: 'up' | 'down'): Promise<void> => {
    host(index);
    await runIp(ip, ['-n', switchNamespace, 'link', 'set', `p${index}`, state]);
  };
  /**
   * Forgets the ARP entries to and from host `index` (never the permanent ones that make
   * partitions). An entry left INCOMPLETE while the link was down would retry only at ARP's next
   * 1 s tick, so without this the host stays unreachable for up to a second after linkUp.
   */
  const forgetNeighbours = async (index: number): Promise<void> => {
    await Promise.all(
      hosts.map((each, i) =>
        i === index
          ? runIp(ip, ['-n', each.namespace, 'neigh', 'flush', 'dev', HOST_INTERFACE])
          : runIp(ip, ['-n', each.namespace, 'neigh', 'flush', 'to', hosts[index]!.address, 'dev', HOST_INTERFACE]),
      ),
    );
  };

  try {
    await runBatch(
      ip,
      undefined,
      namespaces.map((namespace) => `netns add ${namespace}`),
    );
    await runBatch(ip, switchNamespace, [
      // No STP: ports forward as soon as they are up.
      `link add ${BRIDGE} type bridge stp_state 0 forward_delay 0`,
      `link set ${BRIDGE} up`,
      'link set lo up',
      ...hosts.flatMap((each, i) => [
        `link add p${i} type veth peer name ${HOST_INTERFACE} netns ${each.namespace}`,
        `link set p${i} master ${BRIDGE} up`,
      ]),
    ]);
    await Promise.all(
      hosts.map((each) =>
        runBatch(ip, each.namespace, [
          `link set ${HOST_INTERFACE} addrgenmode none`,
          `addr add ${each.address}/24 dev ${HOST_INTERFACE}`,
          `link set ${HOST_INTERFACE} up`,
          'link set lo up',
        ]),
      ),
    );
  } catch (error) {
    await destroy();
    throw error;
  }

  return {
    hosts,
    switchNamespace,
    exec(hostIndex, command, args = [], spawnOptions = {}) {
      // The test's own environment, explicitly: under jest, spawn's default is the worker's
      // environment, which lacks what the test set up (GRAPEVINE_PLAINTEXT among it).
      const options = { env: process.env, ...spawnOptions };
      const child = spawn(ip, ['netns', 'exec', host(hostIndex).namespace, command, ...args], options);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async partition(groupA, groupB) {
      for (const index of [...groupA, ...groupB]) host(index);
      const shared = groupA.filter((index) => groupB.includes(index));
      if (shared.length > 0) throw new RangeError(`hosts ${shared.join(', ')} are in both groups`);
      const entries = new Map<number, string[]>();
      const cut = (from: number, to: number): void => {
        const lines = entries.get(from) ?? [];
        lines.push(`neigh replace ${hosts[to]!.address} lladdr ${UNREACHABLE_MAC} dev ${HOST_INTERFACE} nud permanent`);
        entries.set(from, lines);
      };
      for (const i of groupA) {
        for (const j of groupB) {
          cut(i, j);
          cut(j, i);
        }
      }
      await Promise.all([...entries].map(([index, lines]) => runBatch(ip, hosts[index]!.namespace, lines)));
    },
    async heal() {
      // The partition entries are the only permanent ones on the hosts' interfaces.
      await Promise.all(
        hosts.map((_, i) =>
          runIp(ip, ['-n', host(i).namespace, 'neigh', 'flush', 'dev', HOST_INTERFACE, 'nud', 'permanent']),
        ),
      );
    },
    linkDown: (hostIndex) => setPort(hostIndex, 'down'),
    async linkUp(hostIndex) {
      await setPort(hostIndex, 'up');
      await forgetNeighbours(hostIndex);
    },
    destroy,
  };
}

/**
 * Deletes namespaces named `<prefix>-<pid>-...` whose creating process is gone (or, for this
 * process's own pid, that this process did not create), killing anything still running inside.
 * Namespaces of live processes, such as parallel jest workers, are left alone. Returns the names
 * deleted.
 */
export async function removeStaleTestNamespaces(prefix: string = DEFAULT_NAMESPACE_PREFIX): Promise<string[]> {
  const pattern = new RegExp(`^${checkedPrefix(prefix)}-(\\d+)-[0-9a-f]+-(?:sw|h\\d+)$`);
  const ip = requireIp();
  const stale = (await listNamespaces(ip)).filter((name) => {
    const match = pattern.exec(name);
    if (!match) return false;
    const pid = Number(match[1]);
    return pid === process.pid ? !createdHere.has(name) : !isAlive(pid);
  });
  await killNamespaceProcesses(ip, stale);
  await deleteNamespaces(ip, stale);
  return stale;
}

function checkedPrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new RangeError(`prefix must be 1 to 16 lowercase letters and digits starting with a letter, got "${prefix}"`);
  }
  return prefix;
}

function requireIp(): string {
  const directories = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const found = [...directories.map((directory) => join(directory, 'ip')), ...IP_FALLBACKS].find((path) =>
    existsSync(path),
  );
  if (!found) {
    throw new Error('test networks need `ip` from the Debian package iproute2: apt-get install -y iproute2');
  }
  return found;
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('test networks need root: namespaces, veth and bridges take CAP_SYS_ADMIN and CAP_NET_ADMIN');
  }
}

/** A host route inside the block would make a test address ambiguous, so refuse to run. */
async function requireFreeSubnet(ip: string): Promise<void> {
  if (subnetChecked) return;
  const routes = (await runIp(ip, ['-4', 'route', 'show', 'table', 'all', 'root', TEST_SUBNET])).trim();
  if (routes !== '') {
    throw new Error(`this machine already routes part of ${TEST_SUBNET}, which test networks use:\n${routes}`);
  }
  subnetChecked = true;
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** kill(pid, 0) succeeds, or fails with EPERM, exactly when the process exists. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every pid in `ip netns pids` output; ones that exited meanwhile are skipped. */
function killAll(pidList: string): void {
  for (const pid of pidList.split('\n').map(Number).filter(Number.isInteger)) {
    if (pid <= 0) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}

async function killChildren(children: Set<ChildProcess>): Promise<void> {
  await Promise.all(
    [...children].filter(isRunning).map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, KILL_WAIT_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Also catches what exec()'d processes started themselves. */
async function killNamespaceProcesses(ip: string, namespaces: readonly string[]): Promise<void> {
  await Promise.all(
    namespaces.map((namespace) =>
      runIp(ip, ['netns', 'pids', namespace]).then(killAll, () => {
        // The namespace is gone or was never made.
      }),
    ),
  );
}

/** Tolerates namespaces that are gone already: a parallel worker may be removing the same leftovers. */
async function deleteNamespaces(ip: string, namespaces: readonly string[]): Promise<void> {
  const existing = new Set(await listNamespaces(ip));
  await Promise.all(
    namespaces
      .filter((namespace) => existing.has(namespace))
      .map((namespace) =>
        runIp(ip, ['netns', 'del', namespace]).catch(async (error: unknown) => {
          if ((await listNamespaces(ip)).includes(namespace)) throw error;
        }),
      ),
  );
}

/** `ip netns list` prints "name" or "name (id: N)" per line. */
async function listNamespaces(ip: string): Promise<string[]> {
  const output = await runIp(ip, ['netns', 'list']);
  return output
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** One ip process for many commands, inside `namespace` when given; stops at the first failure. */
function runBatch(ip: string, namespace: string | undefined, lines: readonly string[]): Promise<string> {
  const args = namespace === undefined ? ['-batch', '-'] : ['-n', namespace, '-batch', '-'];
  return runIp(ip, args, lines.join('\n') + '\n');
}

function runIp(ip: string, args: readonly string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(ip, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) {
        resolve(stdout);
        return;
      }
      const detail = stderr.trim() || error.message;
      reject(new Error(`ip ${args.join(' ')} failed: ${detail}${input ? `\ninput:\n${input}` : ''}`));
    });
    // ip may exit without reading its input; its exit status reports what went wrong.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}
