/**
 * How a Watch message reaches its call. grpc-js frames every message it is given by copying it
 * into a new buffer, and passes it through its stream machinery and the interceptors; for a
 * thousand watchers of one busy network that is most of the fan-out's cost (about four times
 * what the write itself costs), and the copies keep the garbage collector busy. A message with
 * events is encoded and framed once (watch-encoding.ts), and that one buffer is written to every
 * call's HTTP/2 stream, exactly as grpc-js would have written it.
 *
 * This reaches past grpc-js's public API (pinned at 1.14.7) to the call's HTTP/2 stream. It does
 * so only once grpc-js has sent the response headers (after the first message, which always goes
 * through grpc-js) and while the stream is open; otherwise, or when the internals are not where
 * they were, a message goes through call.write: slower, never wrong. Only one message is in the
 * transport at a time (watch-fanout.ts), so the two paths never reorder messages.
 * watch-transport.test.ts checks that the direct path is the one taken.
 */
import { ServerWritableStream } from '@grpc/grpc-js';
import { ServerHttp2Stream } from 'node:http2';
import { WatchResponse } from '../gen/grapevine/v1/directory';
import { WatchSink } from './watch-fanout';

/** The part of grpc-js's BaseServerInterceptingCall this uses. */
interface BaseCall {
  readonly stream: ServerHttp2Stream;
  readonly metadataSent: boolean;
}

/** Levels of interceptors between a call object and grpc-js's base call, searched at most. */
const MAX_CALL_DEPTH = 8;

function baseCallOf(call: ServerWritableStream<unknown, unknown>): BaseCall | undefined {
  let inner = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; inner && depth < MAX_CALL_DEPTH; depth += 1) {
    const candidate = inner as Partial<BaseCall> & { nextCall?: unknown };
    if (typeof candidate.metadataSent === 'boolean' && typeof candidate.stream?.write === 'function') {
      return candidate as BaseCall;
    }
    inner = candidate.nextCall;
  }
  return undefined;
}

/**
 * The write function of a Watch call's sink. `onDirect` is told of each message written past
 * grpc-js, so the gRPC message counters still count it.
 */
export function watchCallWriter(
  call: ServerWritableStream<unknown, WatchResponse>,
  onDirect: () => void = () => {},
): WatchSink['write'] {
  const base = baseCallOf(call as ServerWritableStream<unknown, unknown>);
  // An error on the HTTP/2 stream also closes it, and the call's 'cancelled' ends the watch; the
  // listener only keeps a second error from being thrown (grpc-js listens once).
  base?.stream.on('error', () => {});
  // One message is in the transport at a time, so one callback serves every direct write.
  let pendingTaken: (() => void) | undefined;
  const written = (error?: Error | null) => {
    const taken = pendingTaken;
    pendingTaken = undefined;
    if (error || !taken) return;
    onDirect();
    taken();
  };
  return (message, taken) => {
    const stream = base?.stream;
    if (message.framed && base?.metadataSent && stream && !stream.destroyed && !stream.closed && stream.writable) {
      pendingTaken = taken;
      stream.write(message.framed, written);
      return;
    }
    // The server's codec passes encoded bytes through (common/grpc-server.ts).
    call.write(message.bytes as unknown as WatchResponse, () => taken());
  };
}

/** For tests: whether a call's messages can take the direct path. */
export function hasDirectPath(call: ServerWritableStream<unknown, unknown>): boolean {
  return baseCallOf(call) !== undefined;
}
