/**
 * The typed Host client for the local application: Send and Flood (the host forwards or floods;
 * no sender is set), Receive as an async iterator, and Peers with every record verified. Unary
 * calls have a deadline; Receive has none and runs until its signal aborts.
 */
import { ChannelCredentials, Interceptor, Metadata, ServiceError } from '@grpc/grpc-js';
import { PermissionDeniedError } from '../common/errors';
import { grpcClientMetricsInterceptor } from '../common/grpc-metrics';
import { bearerMetadata } from '../common/bearer-token';
import { COMMON_GRPC_OPTIONS } from '../common/grpc-options';
import { MAX_GRPC_MESSAGE_BYTES } from '../common/limits';
import { defaultChannelCredentials } from '../common/tls';
import { Registry } from '../common/metrics';
import { PeerRecord, SignedRecord, openRecord } from '../common/records';
import {
  FloodResponse,
  HostServiceClient,
  MessageKind,
  PeersResponse,
  PeerState,
  PeerView,
  ReceiveResponse,
  SendResponse,
} from '../gen/grapevine/v1/host';

export interface HostClientOptions {
  /** Per-call deadline in ms (not for Receive). */
  readonly deadlineMs?: number;
  /** Defaults to TLS checked against the system's roots (plaintext when GRAPEVINE_PLAINTEXT is true). */
  readonly credentials?: ChannelCredentials;
  /** When given, grpc_client_* metrics are recorded in it. */
  readonly registry?: Registry;
  /** The host's appToken, sent with every call when the host requires one. */
  readonly appToken?: string;
}

/** One peer in the host's views, with what the host believes of it. */
export interface HostPeer {
  readonly peerId: string;
  /** host:port from the peer's record; empty when the host holds no record that verifies. */
  readonly address: string;
  readonly view: 'active' | 'passive';
  readonly suspected: boolean;
  /** SWIM incarnation: grows each time the peer refutes a suspicion. */
  readonly incarnation: number;
  /** The peer's newest record the host holds, verified; absent when the host sent none. */
  readonly record?: PeerRecord;
  readonly signed?: SignedRecord;
}

export interface HostPeers {
  /** The host's own id, address and record. */
  readonly peerId: string;
  readonly address: string;
  readonly record: PeerRecord;
  /** Active view first, then passive. */
  readonly peers: readonly HostPeer[];
}

export interface ReceivedMessage {
  readonly kind: 'direct' | 'flood';
  readonly messageId: string;
  /** The sender (direct) or the peer that started the flood. */
  readonly fromPeerId: string;
  readonly payload: Uint8Array;
  /** Hops the message travelled (1 for a direct message). */
  readonly hops: number;
  /** When the host received it, in ms since the Unix epoch. */
  readonly receivedAtMs: number;
}

export interface FloodOptions {
  /** Hops the flood may travel; undefined or 0: the host's default. */
  readonly ttl?: number;
  /** Unique per flood; undefined: the host picks one. */
  readonly messageId?: string;
}

export interface ReceiveOptions {
  /** Stops receiving; the iterator then ends without an error. */
  readonly signal?: AbortSignal;
}

const DEFAULT_DEADLINE_MS = 5_000;

export class HostClient {
  private readonly client: HostServiceClient;
  private readonly deadlineMs: number;
  private readonly appToken: string | undefined;

  constructor(address: string, options: HostClientOptions = {}) {
    const interceptors: Interceptor[] = options.registry ? [grpcClientMetricsInterceptor(options.registry)] : [];
    this.client = new HostServiceClient(address, options.credentials ?? defaultChannelCredentials(), {
      ...COMMON_GRPC_OPTIONS,
      interceptors,
      'grpc.max_receive_message_length': 4 * MAX_GRPC_MESSAGE_BYTES,
    });
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.appToken = options.appToken;
  }

  close(): void {
    this.client.close();
  }

  /** The host's views. Throws if a record the host sent does not verify or names another peer. */
  async peers(): Promise<HostPeers> {
    const response = await this.unary<PeersResponse>((cb) =>
      this.client.peers({}, this.meta(), this.callOptions(), cb),
    );
    return {
      peerId: response.peerId,
      address: response.address,
      record: openOwnRecord(response.record, response.peerId),
      peers: response.peers.map(toHostPeer),
    };
  }

  /**
   * Asks the host to deliver `payload` to one peer; resolves with the message id once the peer
   * took it. NOT_FOUND: the host knows no address for the peer; INVALID_ARGUMENT: not a peer id;
   * UNAVAILABLE: the peer could not be reached.
   */
  async send(toPeerId: string, payload: Uint8Array, messageId = ''): Promise<string> {
    const response = await this.unary<SendResponse>((cb) =>
      this.client.send({ toPeerId, payload: Buffer.from(payload), messageId }, this.meta(), this.callOptions(), cb),
    );
    return response.messageId;
  }

  /** Asks the host to flood `payload` to every peer; resolves with the message id once it started. */
  async flood(payload: Uint8Array, options: FloodOptions = {}): Promise<string> {
    const response = await this.unary<FloodResponse>((cb) =>
      this.client.flood(
        {
          messageId: options.messageId ?? '',
          ttl: options.ttl ?? 0,
          hops: 0,
          payload: Buffer.from(payload),
          originPeerId: '',
        },
        this.meta(),
        this.callOptions(),
        cb,
      ),
    );
    return response.messageId;
  }

  /**
   * The messages that reach the host from now on, direct and flooded. Ends when the signal
   * aborts; any other end of the stream (the host stopping, a lost connection) throws the gRPC
   * error. Messages that arrive before the host has registered the stream are not seen.
   */
  async *receive(options: ReceiveOptions = {}): AsyncGenerator<ReceivedMessage> {
    if (options.signal?.aborted) return;
    const call = this.client.receive({}, this.meta());
    const abort = () => call.cancel();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      for await (const response of call as AsyncIterable<ReceiveResponse>) yield toMessage(response);
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', abort);
      call.cancel();
    }
  }

  private meta(): Metadata {
    return bearerMetadata(this.appToken);
  }

  private callOptions() {
    return { deadline: Date.now() + this.deadlineMs };
  }

  private unary<T>(start: (callback: (error: ServiceError | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
  }
}

/** Opens a record and checks it belongs to the peer the host filed it under. */
function openOwnRecord(signed: SignedRecord | undefined, peerId: string): PeerRecord {
  const record = openRecord(signed);
  if (record.peerId !== peerId) {
    throw new PermissionDeniedError(`host sent a record of ${record.peerId} for peer ${peerId}`);
  }
  return record;
}

function toHostPeer(state: PeerState): HostPeer {
  const signed = state.record && state.record.record.length > 0 ? state.record : undefined;
  return {
    peerId: state.peerId,
    address: state.address,
    view: state.view === PeerView.PEER_VIEW_ACTIVE ? 'active' : 'passive',
    suspected: state.suspected,
    incarnation: state.incarnation,
    record: signed && openOwnRecord(signed, state.peerId),
    signed,
  };
}

function toMessage(response: ReceiveResponse): ReceivedMessage {
  return {
    kind: response.kind === MessageKind.MESSAGE_KIND_FLOOD ? 'flood' : 'direct',
    messageId: response.messageId,
    fromPeerId: response.fromPeerId,
    payload: response.payload,
    hops: response.hops,
    receivedAtMs: response.receivedAtMs,
  };
}
