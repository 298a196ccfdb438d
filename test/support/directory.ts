/** Starts a real Directory (real gRPC on a free loopback port) over memory or a real redis-server. */
import { silentLogger } from '../../services/common/logging';
import { DirectoryClient } from '../../services/client/directory-client';
import { DirectoryConfig, directoryConfigSchema } from '../../services/directory/config';
import { RunningDirectory, startDirectory } from '../../services/directory/server';

export interface TestDirectory {
  readonly directory: RunningDirectory;
  readonly address: string;
  readonly client: DirectoryClient;
  stop(): Promise<void>;
}

export async function startTestDirectory(
  overrides: Partial<Record<keyof DirectoryConfig, unknown>> = {},
  now?: () => number,
): Promise<TestDirectory> {
  const config = Object.freeze(
    directoryConfigSchema.parse({
      grpcPort: 0,
      metricsPort: 0,
      shutdownGraceMs: 1_000,
      logLevel: 'silent',
      ...overrides,
    }),
  );
  const directory = await startDirectory(config, { log: silentLogger(), now });
  const address = `127.0.0.1:${directory.grpcPort}`;
  const client = new DirectoryClient(address, { deadlineMs: 3_000 });
  return {
    directory,
    address,
    client,
    stop: async () => {
      client.close();
      await directory.stop();
    },
  };
}
