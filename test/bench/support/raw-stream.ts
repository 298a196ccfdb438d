/**
 * Unary and server-streaming gRPC calls made straight on node's HTTP/2 client, for benches whose
 * clients stand in for many remote machines: a thousand watchers, or thousands of lookups a
 * second, in one process must cost that process little, or the bench measures its own client
 * library (its allocations, and the garbage collector's pauses that then delay every answer). On
 * the wire this is what any gRPC client sends and reads (HTTP/2, `application/grpc`,
 * length-prefixed messages, status in trailers); what it skips is grpc-js's per-message machinery
 * (decoder copies, interceptors, call objects). No TLS, retries or compression: the benches use
 * plaintext on loopback.
 */
import { status } from '@grpc/grpc-js';
import { ClientHttp2Session, ClientHttp2Stream, connect, constants } from 'node:http2';

/** The gRPC length prefix: a compressed flag and a 4-byte big-endian length. */
const PREFIX_BYTES = 5;

/** The length of the message whose prefix starts the held chunks (at least PREFIX_BYTES in all). */
function messageLength(chunks: readonly Buffer[]): number {
  const prefix = chunks[0].length >= PREFIX_BYTES ? chunks[0] : Buffer.concat(chunks).subarray(0, PREFIX_BYTES);
  return prefix.readUInt32BE(1);
}

/** One HTTP/2 connection for raw streams, with its connection and stream windows set to `windowBytes`. */
export function rawConnection(address: string, windowBytes: number): ClientHttp2Session {
  const session = connect(`http://${address}`, { settings: { initialWindowSize: windowBytes } });
  session.once('remoteSettings', () => session.setLocalWindowSize(windowBytes));
  session.on('error', () => undefined);
  return session;
}

export interface RawStreamHandlers {
  /** One message: its bytes are `chunk[start, end)`, valid only during the call. */
  onMessage(chunk: Buffer, start: number, end: number): void;
  /** The call ended: its grpc-status (undefined if the stream broke before trailers). */
  onEnd?(status: number | undefined): void;
  /** Sent to the server as the call's grpc-timeout. */
  timeoutMs?: number;
}

/** Starts a server-streaming call with an already encoded request and reads its messages. */
export function rawServerStream(
  session: ClientHttp2Session,
  path: string,
  request: Buffer,
  handlers: RawStreamHandlers,
): ClientHttp2Stream {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(handlers.timeoutMs === undefined ? {} : { 'grpc-timeout': `${Math.ceil(handlers.timeoutMs)}m` }),
  });
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32BE(request.length, 1);
  stream.end(Buffer.concat([prefix, request]));
  // The chunks of a message cut by chunk boundaries, joined once the whole message is in: joining
  // at every chunk would copy a long message over and over.
  const held: Buffer[] = [];
  let heldBytes = 0;
  let heldNeeds = 0;
  stream.on('data', (data: Buffer) => {
    let chunk = data;
    if (held.length > 0) {
      held.push(data);
      heldBytes += data.length;
      if (heldNeeds === 0 && heldBytes >= PREFIX_BYTES) heldNeeds = PREFIX_BYTES + messageLength(held);
      if (heldNeeds === 0 || heldBytes < heldNeeds) return;
      chunk = Buffer.concat(held, heldBytes);
      held.length = 0;
      heldBytes = 0;
      heldNeeds = 0;
    }
    let at = 0;
    while (chunk.length - at >= PREFIX_BYTES) {
      const end = at + PREFIX_BYTES + chunk.readUInt32BE(at + 1);
      if (end > chunk.length) break;
      handlers.onMessage(chunk, at + PREFIX_BYTES, end);
      at = end;
    }
    if (at < chunk.length) {
      const rest = chunk.subarray(at);
      held.push(rest);
      heldBytes = rest.length;
      if (rest.length >= PREFIX_BYTES) heldNeeds = PREFIX_BYTES + rest.readUInt32BE(1);
    }
  });
  let grpcStatus: number | undefined;
  stream.on('trailers', (trailers) => {
    grpcStatus = Number(trailers['grpc-status']);
  });
  // A trailers-only answer (an error before any message) carries the status in its headers.
  stream.on('response', (headers) => {
    if (headers['grpc-status'] !== undefined) grpcStatus = Number(headers['grpc-status']);
  });
  stream.on('error', () => undefined);
  stream.on('close', () => handlers.onEnd?.(grpcStatus));
  return stream;
}

/**
 * A replica's address and a connection to it that is made again once it breaks (the replica
 * killed and restarted), at most once per `retryMs`: a call in between fails at once with
 * UNAVAILABLE, as grpc-js fails calls while its channel backs off.
 */
export class RawChannel {
  private session: ClientHttp2Session | undefined;
  private connectedAt = -Infinity;

  constructor(
    private readonly address: string,
    private readonly retryMs = 100,
  ) {}

  /** An open session, or undefined while the last one broke less than retryMs ago. */
  current(): ClientHttp2Session | undefined {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const now = performance.now();
    if (now - this.connectedAt < this.retryMs) return undefined;
    this.connectedAt = now;
    this.session = connect(`http://${this.address}`);
    this.session.on('error', () => undefined);
    return this.session;
  }

  close(): void {
    this.session?.close();
  }
}

/**
 * A unary call with an already encoded request; resolves with its grpc-status: DEADLINE_EXCEEDED
 * past `deadlineMs` (the call is cancelled), UNAVAILABLE when there is no connection or it broke
 * before the status came. The answer's bytes are read and dropped.
 */
export function rawUnary(channel: RawChannel, path: string, request: Buffer, deadlineMs: number): Promise<number> {
  const session = channel.current();
  if (!session) return Promise.resolve(status.UNAVAILABLE);
  return new Promise((resolve) => {
    let expired = false;
    let stream: ClientHttp2Stream;
    try {
      stream = rawServerStream(session, path, request, {
        onMessage: () => undefined,
        onEnd: (code) => resolve(expired ? status.DEADLINE_EXCEEDED : (code ?? status.UNAVAILABLE)),
        timeoutMs: deadlineMs,
      });
    } catch {
      // The session closed between the check and the request.
      resolve(status.UNAVAILABLE);
      return;
    }
    stream.setTimeout(deadlineMs, () => {
      expired = true;
      stream.close(constants.NGHTTP2_CANCEL);
    });
  });
}
