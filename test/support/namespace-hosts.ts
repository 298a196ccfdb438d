/**
 * Real `grapevine host` processes in network namespaces (support/netns.ts), for the partition
 * tests. The test process sits in the root namespace and cannot reach the hosts: each host gets an
 * agent (test/netns/fixtures/host-agent.ts) in its namespace that holds the host's Receive stream
 * and answers Peers and Flood requests over its stdin and stdout.
 */
import { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AgentLine, AgentPeers, AgentRequest } from '../netns/fixtures/host-agent';
import type { TestNetwork } from './netns';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'services', 'cli', 'main.ts');
const AGENT = join(ROOT, 'test', 'netns', 'fixtures', 'host-agent.ts');
/** Lines of a host's output kept for failure messages. */
const KEPT_LOG_LINES = 50;

export const hostName = (index: number): string => `h${index}`;

/** A `grapevine host` process inside the namespace of the same index. */
export interface NamespaceHost {
  readonly index: number;
  readonly child: ChildProcess;
  readonly peerId: string;
  readonly address: string;
  /** The application listener, on the namespace's loopback. */
  readonly application: string;
  readonly metricsPort: number;
  /** Its last warnings and errors, for failure messages. */
  readonly log: string[];
}

export interface NamespaceHostOptions {
  readonly seeds: readonly string[];
  readonly grpcPort: number;
  readonly logLevel: 'info' | 'warn';
  readonly startTimeoutMs: number;
  /** Each JSON log line the host prints after its start line. */
  readonly onLogLine?: (text: string) => void;
}

/** Starts a host (local profile) and resolves once it printed where it listens. */
export function startNamespaceHost(
  net: TestNetwork,
  index: number,
  options: NamespaceHostOptions,
): Promise<NamespaceHost> {
  const address = net.hosts[index]!.address;
  const args = [
    MAIN,
    'host',
    ...['--host', address, '--grpc-port', String(options.grpcPort), '--metrics-port', '0'],
    ...['--profile', 'local', '--log-level', options.logLevel],
    ...(options.seeds.length > 0 ? ['--seeds', options.seeds.join(',')] : []),
  ];
  const child = net.exec(index, TSX, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const remember = (text: string): void => {
    log.push(text);
    if (log.length > KEPT_LOG_LINES) log.shift();
  };
  createInterface({ input: child.stderr! }).on('line', remember);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${hostName(index)} did not start in ${options.startTimeoutMs} ms:\n${log.join('\n')}`)),
      options.startTimeoutMs,
    );
    createInterface({ input: child.stdout! }).on('line', (text) => {
      if (text.startsWith('{"peerId"')) {
        clearTimeout(timer);
        const started = JSON.parse(text) as Pick<NamespaceHost, 'peerId' | 'address' | 'application' | 'metricsPort'>;
        resolve({ index, child, log, ...started });
        return;
      }
      options.onLogLine?.(text);
      if (text.includes('"level":40') || text.includes('"level":50')) remember(text);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${hostName(index)} exited with ${code ?? signal}:\n${log.join('\n')}`));
    });
  });
}

type ReceivedMessage = Extract<AgentLine, { type: 'message' }>;
type Reply = Extract<AgentLine, { type: 'reply' }>;

/** The agent of one host: the messages it received, and requests answered over its stdin/stdout. */
export class HostAgent {
  readonly messages: ReceivedMessage[] = [];
  private readonly replies = new Map<number, (reply: Reply) => void>();
  private nextId = 1;
  private ended: string | undefined;
  private readonly ready: Promise<void>;

  /** Starts the agent of `host` in its namespace; resolves once its Receive stream is counted. */
  static async start(net: TestNetwork, host: NamespaceHost): Promise<HostAgent> {
    const child = net.exec(host.index, TSX, [AGENT, host.application, String(host.metricsPort)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const agent = new HostAgent(host.index, child);
    await agent.ready;
    return agent;
  }

  private constructor(
    readonly index: number,
    private readonly child: ChildProcess,
  ) {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (text) => {
        const line = JSON.parse(text) as AgentLine;
        if (line.type === 'ready') resolve();
        else if (line.type === 'message') this.messages.push(line);
        else if (line.type === 'reply') this.replies.get(line.id)?.(line);
        else this.ended = line.reason;
      });
      child.once('exit', (code, signal) => {
        this.ended ??= `exited with ${code ?? signal}: ${stderr.trim()}`;
        reject(new Error(`agent of ${hostName(index)} ${this.ended}`));
        for (const settle of this.replies.values()) settle({ type: 'reply', id: 0, error: this.ended });
      });
    });
    // Only the start reports a failed start; later requests report it themselves.
    this.ready.catch(() => {});
  }

  peers(): Promise<AgentPeers> {
    return this.ask({ id: this.nextId++, op: 'peers' }, 'peers');
  }

  /** Floods `payload` from this host; resolves with the message id. */
  flood(payload: string): Promise<string> {
    return this.ask({ id: this.nextId++, op: 'flood', payload }, 'messageId');
  }

  /** The host's nonzero peer traffic counters (sent, received, failed, rate limited), as text. */
  traffic(): Promise<string> {
    return this.ask({ id: this.nextId++, op: 'traffic' }, 'traffic');
  }

  /** How many times this host's Receive stream delivered the message. */
  received(messageId: string): number {
    return this.messages.filter((message) => message.messageId === messageId).length;
  }

  close(): void {
    this.child.stdin?.end();
  }

  /** Sends `request` and resolves with its reply's `field`; a reply without it fails with the agent's error. */
  private async ask<K extends 'peers' | 'messageId' | 'traffic'>(
    request: AgentRequest,
    field: K,
  ): Promise<Extract<Reply, Record<K, unknown>>[K]> {
    const reply = await this.request(request);
    if (field in reply) return (reply as Extract<Reply, Record<K, unknown>>)[field];
    throw new Error(`${request.op} on ${hostName(this.index)} failed: ${'error' in reply ? reply.error : 'no answer'}`);
  }

  private request(request: AgentRequest): Promise<Reply> {
    if (this.ended !== undefined) {
      return Promise.reject(new Error(`agent of ${hostName(this.index)} ${this.ended}`));
    }
    return new Promise((resolve) => {
      this.replies.set(request.id, (reply) => {
        this.replies.delete(request.id);
        resolve(reply);
      });
      this.child.stdin!.write(`${JSON.stringify(request)}\n`);
    });
  }
}

/**
 * Each host's peer traffic counters, for the message of a flood that did not arrive: whether its
 * pushes were sent, failed (and how), or were refused, shows where it was lost.
 */
export async function trafficReport(agents: readonly HostAgent[]): Promise<string> {
  const reports = await Promise.all(
    agents.map((agent) => agent.traffic().catch((error: Error) => `(no counters: ${error.message})`)),
  );
  return reports.map((text, i) => `${hostName(agents[i]!.index)} traffic:\n${text}`).join('\n');
}

/** Every host's views at one moment, by host index. */
export interface ViewSnapshot {
  readonly active: ReadonlyMap<number, ReadonlySet<number>>;
  /** Active and passive peers not suspected. */
  readonly known: ReadonlyMap<number, ReadonlySet<number>>;
  /** Whether any host suspects any peer. */
  readonly suspicions: boolean;
  /** The views, one line a host, for failure messages. */
  readonly text: string;
}

/** Asks every agent for its host's views (agents and hosts in the same order). */
export async function snapshotViews(
  agents: readonly HostAgent[],
  hosts: readonly NamespaceHost[],
): Promise<ViewSnapshot> {
  const views = await Promise.all(agents.map((agent) => agent.peers()));
  const indexOf = new Map(hosts.map((host) => [host.peerId, host.index]));
  const named = (ids: readonly string[]): number[] => ids.map((id) => indexOf.get(id) ?? -1);
  const list = (ids: readonly string[]): string => named(ids).map(hostName).join(' ');
  return {
    active: new Map(views.map((view, i) => [agents[i]!.index, new Set(named(view.active))])),
    known: new Map(
      views.map((view, i) => {
        const suspected = new Set(view.suspected);
        const live = [...view.active, ...view.passive].filter((id) => !suspected.has(id));
        return [agents[i]!.index, new Set(named(live))];
      }),
    ),
    suspicions: views.some((view) => view.suspected.length > 0),
    text: views
      .map(
        (view, i) =>
          `${hostName(agents[i]!.index)}: active [${list(view.active)}] passive [${list(view.passive)}]` +
          ` suspected [${list(view.suspected)}]`,
      )
      .join('\n'),
  };
}

/**
 * Groups of `members` joined by links both ends hold in their active views. A flood crosses a
 * link only from an end that holds it, so one-sided links do not count as joining.
 */
export function linkedComponents(snap: ViewSnapshot, members: readonly number[]): number[][] {
  const linked = (i: number, j: number): boolean =>
    (snap.active.get(i)?.has(j) ?? false) && (snap.active.get(j)?.has(i) ?? false);
  const seen = new Set<number>();
  const groups: number[][] = [];
  for (const start of members) {
    if (seen.has(start)) continue;
    const group: number[] = [];
    const queue = [start];
    seen.add(start);
    while (queue.length > 0) {
      const next = queue.shift()!;
      group.push(next);
      for (const other of members) {
        if (!seen.has(other) && linked(next, other)) {
          seen.add(other);
          queue.push(other);
        }
      }
    }
    groups.push(group.sort());
  }
  return groups;
}
