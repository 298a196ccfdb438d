/**
 * The direct write path of Watch messages, over a real gRPC server and client: it must be the one
 * taken with the grpc-js this project pins, and what it writes must reach a client as the same
 * messages, in order, followed by the call's status.
 */
import { ChannelCredentials, ServerCredentials, ServerWritableStream, ServiceError, status } from '@grpc/grpc-js';
import { InvalidArgumentError } from '../common/errors';
import { RunningGrpcServer, startGrpcServer } from '../common/grpc-server';
import { errorToStatus } from '../common/grpc-status';
import { silentLogger } from '../common/logging';
import { createRegistry } from '../common/metrics';
import { generateIdentity } from '../common/identity';
import { signRecord } from '../common/records';
import {
  DirectoryServiceClient,
  DirectoryServiceService,
  WatchRequest,
  WatchResponse,
} from '../gen/grapevine/v1/directory';
import { ChangeEvent } from './store/store';
import { encodeWatchBatch, encodeWatchResponse } from './watch-encoding';
import { hasDirectPath, watchCallWriter } from './watch-transport';

const signed = signRecord(generateIdentity(), {
  network: 'default',
  name: '',
  addresses: ['127.0.0.1:1'],
  labels: {},
  seq: 1,
  issuedAtMs: 1,
  withdrawn: false,
});
const events: ChangeEvent[] = Array.from({ length: 5 }, (_, i) => ({
  type: 'put',
  revision: 11 + i,
  peerId: 'p',
  signed,
}));

describe('watch transport', () => {
  let server: RunningGrpcServer;
  let client: DirectoryServiceClient;
  let direct = 0;
  let found: boolean | undefined;
  /** How the test's Watch ends: normally, or with this error. */
  let ending: Error | undefined;

  beforeAll(async () => {
    const log = silentLogger();
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      credentials: ServerCredentials.createInsecure(),
      registry: createRegistry(),
      log,
      services: [
        {
          name: 'grapevine.v1.DirectoryService',
          definition: DirectoryServiceService,
          implementation: {
            watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => {
              found = hasDirectPath(call as ServerWritableStream<unknown, unknown>);
              const write = watchCallWriter(call, () => (direct += 1));
              // One message at a time, as the fan-out does: the next once the last is taken.
              const messages = [
                { bytes: encodeWatchResponse([], 10) },
                encodeWatchBatch(events.slice(0, 2), 12),
                { bytes: encodeWatchResponse([], 12) },
                encodeWatchBatch(events.slice(2), 15),
              ];
              const next = (): void => {
                const message = messages.shift();
                if (message) write(message, next);
                else if (ending) call.emit('error', errorToStatus(ending, log, 'Watch'));
                else call.end();
              };
              next();
            },
          },
        },
      ],
    });
    client = new DirectoryServiceClient(`127.0.0.1:${server.port}`, ChannelCredentials.createInsecure());
  });

  afterAll(async () => {
    client.close();
    await server.shutdown(0);
  });

  function watch(): Promise<{ responses: WatchResponse[]; code: status }> {
    const responses: WatchResponse[] = [];
    return new Promise((resolve) => {
      const call = client.watch({ network: 'default', fromRevision: 10 });
      call.on('data', (response: WatchResponse) => responses.push(response));
      call.on('error', (error: ServiceError) => resolve({ responses, code: error.code }));
      call.on('end', () => resolve({ responses, code: status.OK }));
    });
  }

  it.each([
    ['an OK status', undefined, status.OK],
    ['an error status', new InvalidArgumentError('no more'), status.INVALID_ARGUMENT],
  ])('delivers every message in order, then %s', async (_, error, code) => {
    direct = 0;
    ending = error;
    const result = await watch();
    expect(found).toBe(true);
    expect(result.code).toBe(code);
    expect(
      result.responses.map((response) => [response.events.map((event) => event.revision), response.revision]),
    ).toEqual([
      [[], 10],
      [[11, 12], 12],
      [[], 12],
      [[13, 14, 15], 15],
    ]);
    // The two messages with events went past grpc-js; the first and the progress message through it.
    expect(direct).toBe(2);
  });
});
