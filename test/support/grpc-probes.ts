/** Health and reflection clients, as Kubernetes probes and grpcurl would use them. */
import { ChannelCredentials, loadPackageDefinition, makeGenericClientConstructor, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { join } from 'node:path';

type AnyClient = Record<string, (...args: unknown[]) => unknown> & { close(): void };

function clientFor(protoFile: string, includeDirs: string[], service: string, address: string): AnyClient {
  const definition = loadPackageDefinition(loadSync(protoFile, { includeDirs, keepCase: false, enums: String }));
  const Constructor = service.split('.').reduce<any>((node, part) => node[part], definition) as ReturnType<
    typeof makeGenericClientConstructor
  >;
  return new Constructor(address, ChannelCredentials.createInsecure()) as unknown as AnyClient;
}

/** "SERVING", "NOT_SERVING", or the gRPC error's code name. */
export function checkHealth(address: string, service = ''): Promise<string> {
  const client = clientFor(healthProtoPath, [], 'grpc.health.v1.Health', address);
  return new Promise((resolve) => {
    client.check(
      { service },
      { deadline: Date.now() + 3_000 },
      (error: ServiceError | null, response?: { status: string }) => {
        client.close();
        resolve(error ? `error ${error.code}` : (response?.status ?? 'none'));
      },
    );
  });
}

/** The service names the server lists through reflection (v1). */
export function listServicesByReflection(address: string): Promise<string[]> {
  const dir = join(require.resolve('@grpc/reflection'), '..', '..', 'proto');
  const client = clientFor(
    'grpc/reflection/v1/reflection.proto',
    [dir],
    'grpc.reflection.v1.ServerReflection',
    address,
  );
  return new Promise((resolve, reject) => {
    const call = (client.serverReflectionInfo as () => NodeJS.EventEmitter & { write(m: object): void; end(): void })();
    call.on('data', (response: { listServicesResponse?: { service: { name: string }[] } }) => {
      resolve((response.listServicesResponse?.service ?? []).map((entry) => entry.name).sort());
      call.end();
      client.close();
    });
    call.on('error', reject);
    call.write({ listServices: '' });
  });
}
