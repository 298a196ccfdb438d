/**
 * The membership core's transport over gRPC, on one kept connection per peer. A message the core
 * waits an answer for (a ping, an indirect ping, a neighbour request, a push-pull) becomes a unary
 * call with a deadline, and its answer goes back into the core. One-way messages (gossip, floods,
 * shuffles) go on a long-lived Push stream per peer, in order and far cheaper than a call each. A
 * failed call or stream is a lost packet: counted, never thrown, and the core's own timeouts turn
 * silence into suspicion.
 */
import {
  ChannelCredentials,
  Client,
  ClientWritableStream,
  Interceptor,
  Metadata,
  ServiceError,
  connectivityState,
  makeGenericClientConstructor,
  status,
} from '@grpc/grpc-js';
import { isIP } from 'node:net';
import { codeName } from '../common/grpc-metrics';
import { COMMON_GRPC_OPTIONS } from '../common/grpc-options';
import { parseHostPort } from '../common/records';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import type { Logger } from '../common/logging';
import type { PushRequest, SendRequest, SendResponse } from '../gen/grapevine/v1/host';
import type { Message, Outgoing, Transport } from '../membership';
import type { HostMetrics } from './metrics';
import { answerOf, callFor, pushOf, type PeerCall, type PeerMethod } from './wire';
import { countingSentBytes, typeLabel } from './wire-bytes';

export interface PeerTransportOptions {
  readonly credentials: ChannelCredentials;
  readonly interceptors: readonly Interceptor[];
  /** Deadline of each kind of call, in milliseconds. */
  readonly deadlineMs: (method: PeerMethod) => number;
  /** Where answers go: the core, through the driver. */
  readonly deliver: (answer: Message) => void;
  readonly metrics: HostMetrics;
  readonly log: Logger;
  /** Connections kept; the least recently used is closed past it. */
  readonly maxConnections: number;
}

/** Bytes a Push stream may hold unsent before further messages to that peer are dropped. */
const MAX_PUSH_BUFFER_BYTES = 1_024 * 1_024;
/**
 * One-way messages are datagrams to the protocol (SWIM assumes UDP): late is worse than lost.
 * Over TCP nothing is lost, only held: a message queued on a connection that is still being made,
 * or written to one whose packets stopped arriving (a partition, a peer's machine gone), is
 * delivered whenever the connection comes through, which after a partition of a minute is tens of
 * seconds later, when its news (a death verdict from before the heal) is stale and does harm. So:
 *
 *   - a one-way message waits for the peer's connection at most the neighbour-request timeout
 *     (the handshake's deadline), then is dropped as lost;
 *   - every peer connection with calls open is pinged every KEEPALIVE_TIME_MS, and one whose ping
 *     goes unanswered for the keepalive timeout is closed, with whatever it still held. The
 *     timeout is twice the probe timeout (at least KEEPALIVE_MIN_TIMEOUT_MS): a peer slower than
 *     that fails its probes anyway. Without it a stalled connection lives as long as TCP keeps
 *     retrying, and every call to that peer, through any client, rides it meanwhile.
 */
const KEEPALIVE_TIME_MS = 2_000;
const KEEPALIVE_MIN_TIMEOUT_MS = 1_000;
/** One-way messages held per peer while its connection is being made; more are dropped. */
const MAX_WAITING_MESSAGES = 64;

type PushMethod = (
  metadata: Metadata,
  callback: (error: ServiceError | null) => void,
) => ClientWritableStream<PushRequest>;

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

interface Waiting {
  readonly request: PushRequest;
  readonly type: string;
}

export class PeerTransport implements Transport {
  private readonly clients = new Map<string, Client>();
  private readonly streams = new Map<string, ClientWritableStream<PushRequest>>();
  /** One-way messages waiting for their peer's connection, by address. */
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly ClientClass: ReturnType<typeof makeGenericClientConstructor>;
  private closed = false;

  constructor(private readonly options: PeerTransportOptions) {
    this.ClientClass = makeGenericClientConstructor(countingSentBytes(options.metrics.bytesSent), 'HostService');
  }

  send(out: Outgoing): void {
    if (this.closed) return;
    const call = callFor(out.message);
    if (!call) {
      this.options.metrics.unroutable.inc({ type: out.message.type });
      return;
    }
    const push = pushOf(call);
    if (push) {
      this.push(out.address, push, call.method);
      return;
    }
    this.invoke(out.address, call.method, call.request).then(
      (response) => this.answer(out, call, response),
      (error: ServiceError) => this.failed(call.method, error),
    );
  }

  /** A direct application message to the peer at `address`; rejects with the call's error. */
  sendDirect(address: string, request: SendRequest): Promise<SendResponse> {
    return this.invoke(address, 'send', request) as Promise<SendResponse>;
  }

  /**
   * One call to the peer at `address`, with the method's usual deadline unless `deadlineMs` is
   * given; rejects with the call's error.
   */
  invoke(address: string, method: PeerMethod | 'send', request: unknown, deadlineMs?: number): Promise<unknown> {
    const { metrics } = this.options;
    const type = typeLabel(method);
    metrics.messagesSent.child({ type }).inc();
    const client = this.client(address) as unknown as Record<string, UnaryMethod>;
    const deadline = Date.now() + (deadlineMs ?? this.options.deadlineMs(method === 'send' ? 'gossip' : method));
    return new Promise((resolve, reject) =>
      client[method].call(client, request, new Metadata(), { deadline }, (error, response) =>
        error ? reject(error) : resolve(response),
      ),
    );
  }

  /** Closes the connection to an address no longer in either view. */
  forget(address: string): void {
    const client = this.clients.get(address);
    if (!client) return;
    this.clients.delete(address);
    this.dropWaiting(address);
    this.endStream(address);
    client.close();
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  close(): void {
    this.closed = true;
    for (const address of [...this.waiting.keys()]) this.dropWaiting(address);
    for (const address of [...this.streams.keys()]) this.endStream(address);
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /**
   * Writes a one-way message on the peer's Push stream once its connection is up; while it is
   * being made the message waits, at most the handshake deadline, then counts as lost.
   */
  private push(address: string, request: PushRequest, method: PeerMethod): void {
    const type = typeLabel(method);
    const queue = this.waiting.get(address);
    if (queue) {
      if (queue.length < MAX_WAITING_MESSAGES) queue.push({ request, type });
      else this.options.metrics.callFailures.inc({ type, code: 'NOT_CONNECTED' });
      return;
    }
    const channel = this.client(address).getChannel();
    const state = channel.getConnectivityState(true);
    if (state === connectivityState.READY) {
      this.write(address, request, type);
      return;
    }
    const held: Waiting[] = [{ request, type }];
    this.waiting.set(address, held);
    const giveUpAt = Date.now() + this.options.deadlineMs('handshake');
    const settle = (ready: boolean) => {
      // forget() or close() may have dropped these already, and new ones may wait meanwhile.
      if (this.waiting.get(address) !== held) return;
      this.waiting.delete(address);
      for (const m of held) {
        if (ready) this.write(address, m.request, m.type);
        else this.options.metrics.callFailures.inc({ type: m.type, code: 'NOT_CONNECTED' });
      }
    };
    const watch = (from: connectivityState) =>
      channel.watchConnectivityState(from, giveUpAt, (error) => {
        if (error || this.closed || this.clients.get(address)?.getChannel() !== channel) return settle(false);
        const now = channel.getConnectivityState(true);
        if (now === connectivityState.READY) return settle(true);
        if (now === connectivityState.SHUTDOWN) return settle(false);
        watch(now);
      });
    watch(state);
  }

  /** Writes a one-way message on the peer's Push stream, opening one when there is none. */
  private write(address: string, request: PushRequest, type: string): void {
    const { metrics } = this.options;
    let stream = this.streams.get(address);
    if (!stream) {
      const client = this.client(address) as unknown as { push: PushMethod };
      const opened = client.push(new Metadata(), (error) => {
        if (this.streams.get(address) === opened) this.streams.delete(address);
        if (error) metrics.callFailures.inc({ type: 'push', code: codeName(error.code ?? status.UNKNOWN) });
      });
      stream = opened;
      this.streams.set(address, stream);
    }
    if (stream.writableLength > MAX_PUSH_BUFFER_BYTES) {
      // The peer does not keep up (or is gone and the connection has not failed yet): drop.
      metrics.callFailures.inc({ type, code: 'BUFFER_FULL' });
      return;
    }
    metrics.messagesSent.child({ type }).inc();
    stream.write(request);
  }

  private dropWaiting(address: string): void {
    for (const m of this.waiting.get(address) ?? []) {
      this.options.metrics.callFailures.inc({ type: m.type, code: 'NOT_CONNECTED' });
    }
    this.waiting.delete(address);
  }

  private endStream(address: string): void {
    const stream = this.streams.get(address);
    if (!stream) return;
    this.streams.delete(address);
    stream.end();
  }

  private client(address: string): Client {
    let client = this.clients.get(address);
    if (client) {
      // Most recently used last: Map keeps insertion order, so the first entry is the eviction.
      this.clients.delete(address);
      this.clients.set(address, client);
      return client;
    }
    if (this.clients.size >= this.options.maxConnections) {
      const [oldest, evicted] = this.clients.entries().next().value as [string, Client];
      this.clients.delete(oldest);
      this.endStream(oldest);
      evicted.close();
    }
    client = new this.ClientClass(channelTarget(address), this.options.credentials, {
      ...COMMON_GRPC_OPTIONS,
      interceptors: [...this.options.interceptors],
      'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
      // Loopback and LAN peers answer quickly; do not let a dead one hold a probe in backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': Math.max(KEEPALIVE_MIN_TIMEOUT_MS, 2 * this.options.deadlineMs('ping')),
    });
    this.clients.set(address, client);
    return client;
  }

  private answer(out: Outgoing, call: PeerCall, response: unknown): void {
    let answer: Message | undefined;
    try {
      answer = answerOf(out, call, response);
    } catch (error) {
      this.options.log.debug({ err: (error as Error).message, peer: out.to }, 'malformed answer dropped');
      this.options.metrics.callFailures.inc({ type: typeLabel(call.method), code: 'MALFORMED_ANSWER' });
      return;
    }
    if (answer) this.options.deliver(answer);
  }

  private failed(method: PeerMethod, error: ServiceError): void {
    this.options.metrics.callFailures.inc({ type: typeLabel(method), code: codeName(error.code ?? status.UNKNOWN) });
  }
}

/**
 * The channel target for a peer's "host:port". An IP literal names the ipv4: or ipv6: resolver:
 * the default (DNS) one builds a resolver of its own for every channel even when there is nothing
 * to resolve, the larger part of a new channel's cost. The authority, and so what TLS checks the
 * certificate against, is the same "host:port" either way.
 */
export function channelTarget(address: string): string {
  const family = isIP(parseHostPort(address)?.host ?? '');
  return family === 4 ? `ipv4:${address}` : family === 6 ? `ipv6:${address}` : address;
}
