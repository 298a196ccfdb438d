/**
 * The membership core's transport over gRPC: each outgoing message becomes a unary call with a
 * deadline on a kept connection, and the call's answer (an ack, a neighbour reply, a push-pull
 * reply) goes back into the core. A failed call is a lost packet: counted, never thrown, and the
 * core's own timeouts turn silence into suspicion.
 */
import {
  ChannelCredentials,
  Client,
  Interceptor,
  Metadata,
  ServiceError,
  makeGenericClientConstructor,
  status,
} from '@grpc/grpc-js';
import { codeName } from '../common/grpc-metrics';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import type { Logger } from '../common/logging';
import type { SendRequest, SendResponse } from '../gen/grapevine/v1/host';
import type { Message, Outgoing, Transport } from '../membership';
import type { HostMetrics } from './metrics';
import { answerOf, callFor, type PeerCall, type PeerMethod } from './wire';
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

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response: unknown) => void,
) => void;

export class PeerTransport implements Transport {
  private readonly clients = new Map<string, Client>();
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
    this.invoke(out.address, call.method, call.request).then(
      (response) => this.answer(out, call, response),
      (error: ServiceError) => this.failed(call.method, error),
    );
  }

  /** A direct application message to the peer at `address`; rejects with the call's error. */
  sendDirect(address: string, request: SendRequest): Promise<SendResponse> {
    return this.invoke(address, 'send', request) as Promise<SendResponse>;
  }

  /** One call to the peer at `address`; rejects with the call's error. */
  invoke(address: string, method: PeerMethod | 'send', request: unknown): Promise<unknown> {
    const { metrics } = this.options;
    const type = typeLabel(method);
    metrics.messagesSent.inc({ type });
    const client = this.client(address) as unknown as Record<string, UnaryMethod>;
    const deadline = Date.now() + this.options.deadlineMs(method === 'send' ? 'gossip' : method);
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
    client.close();
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
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
      evicted.close();
    }
    client = new this.ClientClass(address, this.options.credentials, {
      interceptors: [...this.options.interceptors],
      'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
      // Loopback and LAN peers answer quickly; do not let a dead one hold a probe in backoff.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
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
