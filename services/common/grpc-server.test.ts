import {
  ChannelCredentials,
  Client,
  ServerCredentials,
  ServiceError,
  makeGenericClientConstructor,
} from '@grpc/grpc-js';
import { clientStreamHandler, OpenClientStreams, startGrpcServer, type RunningGrpcServer } from './grpc-server';
import { silentLogger } from './logging';
import { Registry } from './metrics';

const bytes = (b: Buffer) => b;
const definition = {
  collect: {
    path: '/test.v1.CollectorService/Collect',
    requestStream: true,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
    originalName: 'collect',
  },
};
const CollectorClient = makeGenericClientConstructor(definition, 'CollectorService');
type CollectStream = { write(b: Buffer): boolean; end(): void };

describe('client-streaming calls and a stopping server', () => {
  let server: RunningGrpcServer;
  let client: Client & { collect(callback: (error: ServiceError | null, answer?: Buffer) => void): CollectStream };
  const open = new OpenClientStreams();
  const handled: string[] = [];

  beforeEach(async () => {
    handled.length = 0;
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      credentials: ServerCredentials.createInsecure(),
      registry: new Registry(),
      log: silentLogger(),
      services: [
        {
          name: 'test.v1.CollectorService',
          definition,
          implementation: {
            collect: clientStreamHandler(
              silentLogger(),
              'Collect',
              async (request: Buffer) => {
                await new Promise((resolve) => setTimeout(resolve, 20));
                handled.push(request.toString());
              },
              () => Buffer.from(`handled ${handled.length}`),
              open,
            ),
          },
        },
      ],
    });
    client = new CollectorClient(
      `127.0.0.1:${server.port}`,
      ChannelCredentials.createInsecure(),
    ) as unknown as typeof client;
  });

  afterEach(async () => {
    client.close();
    await server.shutdown(0);
  });

  /** Opens a stream that writes `messages` and never ends by itself. */
  async function openStream(
    messages: string[],
  ): Promise<{ answered: Promise<{ error: ServiceError | null; answer?: string }> }> {
    let stream: CollectStream | undefined;
    const answered = new Promise<{ error: ServiceError | null; answer?: string }>((resolve) => {
      stream = client.collect((error, answer) => resolve({ error, answer: answer?.toString() }));
    });
    for (const message of messages) stream!.write(Buffer.from(message));
    while (open.size === 0 || handled.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    // Wrapped: an async function returning the promise itself would wait for the answer.
    return { answered };
  }

  it('endAll answers an open stream once the messages it sent are handled', async () => {
    const { answered } = await openStream(['a', 'b', 'c']);
    open.endAll();
    const { error, answer } = await answered;
    expect(error).toBeNull();
    expect(handled).toEqual(['a', 'b', 'c']);
    expect(answer).toBe('handled 3');
    expect(open.size).toBe(0);
  });

  it('lets a shutdown finish well inside its grace period when peers never close their streams', async () => {
    const graceMs = 10_000;
    const { answered } = await openStream(['x']);
    const started = Date.now();
    open.endAll();
    await server.shutdown(graceMs);
    expect(Date.now() - started).toBeLessThan(graceMs);
    expect((await answered).error).toBeNull();
  });

  it('a stream that ends by itself leaves the open list', async () => {
    let stream: CollectStream | undefined;
    const answered = new Promise<string | undefined>((resolve) => {
      stream = client.collect((_error, answer) => resolve(answer?.toString()));
    });
    stream!.write(Buffer.from('only'));
    stream!.end();
    expect(await answered).toBe('handled 1');
    expect(open.size).toBe(0);
  });
});
