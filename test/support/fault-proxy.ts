/**
 * A fault-injecting TCP proxy for tests: it listens on a loopback port, forwards every connection
 * to one target, and makes the link between them slow and lossy. The kernel on the test machines
 * has no netem, so this is how real sockets get latency and loss.
 *
 * What "loss" means on a TCP proxy. The proxy sits above TCP: it reads bytes that both kernels
 * have already delivered, in order and complete, so it cannot lose a packet the way a link does,
 * and dropping bytes would corrupt the stream (something a real link never does to TCP). What a
 * lossy link does to an application over TCP is delay: the sender retransmits a lost segment
 * after its retransmission timeout (RTO), and every byte behind it waits (head-of-line blocking),
 * so the application sees a stall of at least one RTO, never a gap. That is the model here:
 *
 *   - Each direction of each connection is cut into segments of `segmentBytes` (an MSS). A segment
 *     is lost with probability `lossRate`; a lost segment arrives `retransmitTimeoutMs` later, and
 *     each further loss of the same segment doubles the wait (exponential backoff), as TCP does.
 *     Segments keep their order: a segment never overtakes the one before it.
 *   - A segment lost more than `maxRetransmits` times in a row ends the connection with a reset,
 *     as TCP gives up (tcp_retries2); with the defaults that takes a loss rate close to 1.
 *   - Every segment also takes `latencyMs` plus a uniform 0..`jitterMs` (one way), never less than
 *     the segment before it.
 *   - A new connection's SYN may be lost too: forwarding then starts `synTimeoutMs` later
 *     (doubling per loss), which is how a connect over a lossy link stalls.
 *   - `cut()` resets every open connection at once, as a middlebox or a peer's reboot would.
 *
 * What the model leaves out: the congestion window's shrinking after a loss (bulk throughput is
 * not what the tests measure; membership messages are small), and the RTO's growth with the
 * measured round trip (the default of 200 ms is Linux's minimum, TCP_RTO_MIN, which a link
 * with a short round trip gets).
 *
 * Randomness comes from a seeded generator, so a failing run can be replayed with the same seed.
 */
import { createServer, Server, Socket, connect } from 'node:net';

/** Linux's minimum RTO (TCP_RTO_MIN): what a lost segment costs on a short link, in ms. */
export const DEFAULT_RETRANSMIT_TIMEOUT_MS = 200;
/** Linux's initial SYN retransmission timeout (TCP_TIMEOUT_INIT), in ms. */
export const DEFAULT_SYN_TIMEOUT_MS = 1_000;
/** An Ethernet MSS with TCP timestamps. */
export const DEFAULT_SEGMENT_BYTES = 1_448;
/**
 * Retransmissions of one segment before the connection is reset. Linux gives up after about 15
 * (tcp_retries2, some 15 minutes); a test cannot wait that long, and at any loss rate a link is
 * usable at, 6 in a row (a 12.6 s stall) happens about never.
 */
export const DEFAULT_MAX_RETRANSMITS = 6;

export interface LinkFaults {
  /** One-way delay added to every segment, in ms. */
  readonly latencyMs: number;
  /** Extra one-way delay, uniform from 0 to this, in ms. */
  readonly jitterMs: number;
  /** Probability that one transmission of a segment is lost, 0 to 1. */
  readonly lossRate: number;
  /** Wait before a lost segment's first retransmission, in ms; doubles per further loss. */
  readonly retransmitTimeoutMs: number;
  /** Wait before a lost SYN is sent again, in ms; doubles per further loss. */
  readonly synTimeoutMs: number;
  /** Segment size, in bytes. */
  readonly segmentBytes: number;
  /** Losses of one segment in a row that reset the connection. */
  readonly maxRetransmits: number;
}

export const NO_FAULTS: LinkFaults = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  lossRate: 0,
  retransmitTimeoutMs: DEFAULT_RETRANSMIT_TIMEOUT_MS,
  synTimeoutMs: DEFAULT_SYN_TIMEOUT_MS,
  segmentBytes: DEFAULT_SEGMENT_BYTES,
  maxRetransmits: DEFAULT_MAX_RETRANSMITS,
});

export interface FaultProxyOptions {
  /** host:port every connection is forwarded to. */
  readonly target: string;
  /** Faults of both directions; `upstream` and `downstream` override them per direction. */
  readonly faults?: Partial<LinkFaults>;
  /** Client to target. */
  readonly upstream?: Partial<LinkFaults>;
  /** Target to client. */
  readonly downstream?: Partial<LinkFaults>;
  /** Seeds the loss and jitter draws; default a random seed (see FaultProxy.seed). */
  readonly seed?: number;
  /**
   * Address to listen on, default 127.0.0.1. Any 127.x.y.z works on Linux's loopback, so proxies
   * on 127.0.1.1, 127.0.2.1, ... give hosts on one machine addresses in different /24s.
   */
  readonly host?: string;
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number;
}

export interface FaultProxyStats {
  readonly connections: number;
  readonly openConnections: number;
  readonly segments: number;
  /** Segment transmissions lost (each one cost a retransmission timeout). */
  readonly lostSegments: number;
  readonly lostSyns: number;
  readonly bytes: number;
  /** Connections ended because a segment was lost more than maxRetransmits times, or by cut(). */
  readonly resets: number;
}

export interface FaultProxy {
  /** host:port the proxy listens on: the address to advertise or dial instead of the target. */
  readonly address: string;
  readonly port: number;
  readonly seed: number;
  /** Changes the faults of connections open now and to come. */
  setFaults(faults: Partial<LinkFaults>, direction?: 'both' | 'upstream' | 'downstream'): void;
  /** Resets every open connection. */
  cut(): void;
  stats(): FaultProxyStats;
  /** Stops listening and resets every open connection. */
  close(): Promise<void>;
}

/** mulberry32: small, fast, good enough for test faults, and reproducible from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new RangeError(`target must be host:port, got "${address}"`);
  }
  return { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port };
}

function checked(faults: LinkFaults): LinkFaults {
  const problems: string[] = [];
  if (!(faults.lossRate >= 0 && faults.lossRate <= 1)) problems.push(`lossRate ${faults.lossRate} is not in 0..1`);
  for (const key of ['latencyMs', 'jitterMs', 'retransmitTimeoutMs', 'synTimeoutMs'] as const) {
    if (!(faults[key] >= 0)) problems.push(`${key} ${faults[key]} is negative`);
  }
  if (!(faults.segmentBytes >= 1)) problems.push(`segmentBytes ${faults.segmentBytes} is below 1`);
  if (!Number.isInteger(faults.maxRetransmits) || faults.maxRetransmits < 0) {
    problems.push(`maxRetransmits ${faults.maxRetransmits} is not a whole number >= 0`);
  }
  if (problems.length > 0) throw new RangeError(`bad link faults: ${problems.join('; ')}`);
  return Object.freeze({ ...faults });
}

/**
 * One direction of one connection: segments wait in order until their release time, then are
 * written to the destination; the source is paused while the destination is full.
 */
class Pipe {
  private readonly queue: { at: number; bytes: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Release time of the last queued segment: the next one never leaves earlier. */
  private lastAt = 0;
  private ended = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly faults: () => LinkFaults,
    private readonly random: () => number,
    private readonly counters: { segments: number; lostSegments: number; bytes: number },
    /** Called when a segment is lost too often: the connection is reset. */
    private readonly giveUp: () => void,
    /** The earliest time anything may leave (a lost SYN delays the whole connection). */
    startAt: number,
  ) {
    this.lastAt = startAt;
    from.on('data', (chunk: Buffer) => this.accept(chunk));
    from.on('end', () => {
      this.ended = true;
      this.flush();
    });
    to.on('drain', () => from.resume());
  }

  private accept(chunk: Buffer): void {
    const f = this.faults();
    const now = Date.now();
    for (let offset = 0; offset < chunk.length; offset += f.segmentBytes) {
      const bytes = chunk.subarray(offset, offset + f.segmentBytes);
      let delay = f.latencyMs + (f.jitterMs > 0 ? this.random() * f.jitterMs : 0);
      let wait = f.retransmitTimeoutMs;
      let losses = 0;
      while (f.lossRate > 0 && this.random() < f.lossRate) {
        losses++;
        if (losses > f.maxRetransmits) {
          this.counters.lostSegments += losses;
          this.giveUp();
          return;
        }
        delay += wait;
        wait *= 2;
      }
      this.counters.segments++;
      this.counters.lostSegments += losses;
      this.counters.bytes += bytes.length;
      this.lastAt = Math.max(this.lastAt, now + delay);
      this.queue.push({ at: this.lastAt, bytes });
    }
    this.flush();
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { bytes } = this.queue.shift()!;
      if (this.to.destroyed) return;
      if (!this.to.write(bytes)) this.from.pause();
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.queue[0]!.at - now));
      return;
    }
    if (this.ended && !this.to.destroyed) this.to.end();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = splitAddress(options.target);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const random = seededRandom(seed);
  let upstream = checked({ ...NO_FAULTS, ...options.faults, ...options.upstream });
  let downstream = checked({ ...NO_FAULTS, ...options.faults, ...options.downstream });
  const counters = { connections: 0, segments: 0, lostSegments: 0, lostSyns: 0, bytes: 0, resets: 0 };
  const open = new Set<{ reset(): void }>();

  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
    counters.connections++;
    // A lost SYN: the handshake completes only after the retransmission(s).
    let synDelay = 0;
    let synWait = upstream.synTimeoutMs;
    while (upstream.lossRate > 0 && random() < upstream.lossRate && synDelay < 60_000) {
      counters.lostSyns++;
      synDelay += synWait;
      synWait *= 2;
    }
    const startAt = Date.now() + synDelay;
    const remote = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    client.setNoDelay(true);
    remote.setNoDelay(true);
    let done = false;
    const entry = {
      reset() {
        if (done) return;
        done = true;
        open.delete(entry);
        pipes.forEach((pipe) => pipe.stop());
        client.resetAndDestroy();
        remote.resetAndDestroy();
      },
    };
    const giveUp = () => {
      counters.resets++;
      entry.reset();
    };
    const pipes = [
      new Pipe(client, remote, () => upstream, random, counters, giveUp, startAt),
      new Pipe(remote, client, () => downstream, random, counters, giveUp, startAt),
    ];
    open.add(entry);
    const finish = () => {
      if (client.destroyed && remote.destroyed) {
        done = true;
        open.delete(entry);
      }
    };
    // An error on either side ends both: the far end sees the connection fail, as it would.
    client.on('error', () => entry.reset());
    remote.on('error', () => entry.reset());
    // A graceful close travels as an end of stream through the pipes, after the bytes before it.
    client.on('close', finish);
    remote.on('close', finish);
    client.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');

  return {
    address: `${address.address}:${address.port}`,
    port: address.port,
    seed,
    setFaults(faults, direction = 'both') {
      if (direction !== 'downstream') upstream = checked({ ...upstream, ...faults });
      if (direction !== 'upstream') downstream = checked({ ...downstream, ...faults });
    },
    cut() {
      for (const entry of [...open]) {
        counters.resets++;
        entry.reset();
      }
    },
    stats: () => ({
      connections: counters.connections,
      openConnections: open.size,
      segments: counters.segments,
      lostSegments: counters.lostSegments,
      lostSyns: counters.lostSyns,
      bytes: counters.bytes,
      resets: counters.resets,
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const entry of [...open]) entry.reset();
      }),
  };
}
