/**
 * The baseline: a bare @grpc/grpc-js unary echo server, run as its own process like the
 * directory is, so both are measured the same way. Prints "echo listening on <port>".
 */
import { Server, ServerCredentials, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';

export const ECHO_METHOD = '/bench.Echo/Echo';

const identity = (bytes: Buffer) => bytes;

function serve(): void {
  const server = new Server();
  server.addService(
    {
      echo: {
        path: ECHO_METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    { echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, call.request) },
  );
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.stdout.write(`echo listening on ${port}\n`);
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

// Run as a process; imported (for ECHO_METHOD), it starts nothing.
if (require.main === module) serve();
