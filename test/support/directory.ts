/**
 * Starts a real Directory (real gRPC on a free loopback port) over memory or a real redis-server,
 * and what tests of it share: the code a call ends with, a snapshot of a network, a watch that
 * collects changes.
 */
import { ServiceError, status } from '@grpc/grpc-js';
import { silentLogger } from '../../services/common/logging';
import { DirectoryClient, PeerChange } from '../../services/client/directory-client';
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
      plaintext: true,
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

/** The gRPC code name a call ends with: "OK" or e.g. "NOT_FOUND". */
export async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'OK';
  } catch (error) {
    return status[(error as ServiceError).code] ?? String(error);
  }
}

/** Everything observable about a network: used to show that a refused call changed nothing. */
export async function snapshot(t: TestDirectory, network = 'default') {
  const { peers, revision } = await t.client.listAll(network);
  return {
    revision,
    peers: peers.map((peer) => ({
      id: peer.record.peerId,
      seq: peer.record.seq,
      name: peer.record.name,
      revision: peer.revision,
    })),
  };
}

/** Collects watch changes; `until(n)` waits until n have arrived. */
export function collect(t: TestDirectory, options: { fromRevision?: number; network?: string } = {}) {
  const abort = new AbortController();
  const changes: PeerChange[] = [];
  const waiters: (() => void)[] = [];
  let failure: Error | undefined;
  const done = (async () => {
    try {
      for await (const change of t.client.watch(options.network ?? 'default', { ...options, signal: abort.signal })) {
        changes.push(change);
        waiters.splice(0).forEach((wake) => wake());
      }
    } catch (error) {
      failure = error as Error;
      waiters.splice(0).forEach((wake) => wake());
    }
  })();
  return {
    changes,
    get failure() {
      return failure;
    },
    async until(count: number, timeoutMs = 5_000): Promise<PeerChange[]> {
      const deadline = Date.now() + timeoutMs;
      while (changes.length < count && !failure) {
        if (Date.now() > deadline) throw new Error(`saw ${changes.length} of ${count} changes`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      if (failure) throw failure;
      return changes.slice(0, count);
    },
    async stop() {
      abort.abort();
      await done;
    },
  };
}
