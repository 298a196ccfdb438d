/**
 * The benches' raw gRPC client against a real grpc-js server: messages cut across chunk
 * boundaries arrive whole, each status reaches the caller, and a channel whose server went away
 * fails fast and connects again once it is back.
 */
import {
  Server,
  ServerCredentials,
  status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { freePort } from '../../support/free-port';
import { RawChannel, rawConnection, rawServerStream, rawUnary } from './raw-stream';

const bytes = (b: Buffer) => b;
const method = (name: string, responseStream: boolean) => ({
  path: `/test.Raw/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});
const SERVICE: ServiceDefinition = { Stream: method('Stream', true), Unary: method('Unary', false) };

/** Message sizes the stream sends: empty, small, and larger than an HTTP/2 frame (16 KiB). */
const SIZES = [0, 3, 100_000, 7, 40_000];
const messageOf = (i: number) => Buffer.alloc(SIZES[i]!, i + 1);

/** A Unary request's first byte says what to do: 0 answer, 1 fail NOT_FOUND, 2 never answer. */
const ANSWER = 0;
const NOT_FOUND = 1;
const SILENT = 2;

async function startServer(port: number): Promise<Server> {
  const server = new Server();
  server.addService(SERVICE, {
    Stream: (call: ServerWritableStream<Buffer, Buffer>) => {
      SIZES.forEach((_, i) => call.write(messageOf(i)));
      call.end();
    },
    Unary: (call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
      const what = call.request[0];
      if (what === NOT_FOUND) done({ code: status.NOT_FOUND, details: 'no such thing' });
      else if (what === ANSWER) done(null, Buffer.from('answer'));
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return server;
}

describe('raw gRPC calls', () => {
  let port: number;
  let server: Server;

  beforeEach(async () => {
    port = await freePort();
    server = await startServer(port);
  });

  afterEach(() => server.forceShutdown());

  test('a server stream delivers every message whole, in order, then OK', async () => {
    // A small window makes the large messages arrive in many chunks.
    const session = rawConnection(`127.0.0.1:${port}`, 16_384);
    const got: Buffer[] = [];
    const ended = await new Promise<number | undefined>((resolve) =>
      rawServerStream(session, '/test.Raw/Stream', Buffer.alloc(0), {
        onMessage: (chunk, start, end) => got.push(Buffer.from(chunk.subarray(start, end))),
        onEnd: resolve,
      }),
    );
    session.close();
    expect(ended).toBe(status.OK);
    expect(got.map((b) => b.length)).toEqual(SIZES);
    got.forEach((b, i) => expect(b.equals(messageOf(i))).toBe(true));
  });

  test('a unary call resolves with its status: OK, the error, or DEADLINE_EXCEEDED', async () => {
    const channel = new RawChannel(`127.0.0.1:${port}`);
    expect(await rawUnary(channel, '/test.Raw/Unary', Buffer.from([ANSWER]), 2_000)).toBe(status.OK);
    expect(await rawUnary(channel, '/test.Raw/Unary', Buffer.from([NOT_FOUND]), 2_000)).toBe(status.NOT_FOUND);
    expect(await rawUnary(channel, '/test.Raw/Unary', Buffer.from([SILENT]), 200)).toBe(status.DEADLINE_EXCEEDED);
    expect(await rawUnary(channel, '/test.Raw/NoSuchMethod', Buffer.alloc(0), 2_000)).toBe(status.UNIMPLEMENTED);
    channel.close();
  });

  test('a channel fails fast while its server is gone, and connects again only after retryMs', async () => {
    const retryMs = 1_000;
    const channel = new RawChannel(`127.0.0.1:${port}`, retryMs);
    const call = () => rawUnary(channel, '/test.Raw/Unary', Buffer.from([ANSWER]), 2_000);
    expect(await call()).toBe(status.OK);

    server.forceShutdown();
    expect(await call()).toBe(status.UNAVAILABLE);
    // The server is back at once, but within retryMs of the failed connection none is tried.
    server = await startServer(port);
    expect(await call()).toBe(status.UNAVAILABLE);
    await new Promise((resolve) => setTimeout(resolve, retryMs));
    expect(await call()).toBe(status.OK);
    channel.close();
  });
});
