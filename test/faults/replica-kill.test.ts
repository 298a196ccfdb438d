/**
 * Directory and introducer replicas killed with SIGKILL, one at a time, under joins and lookups.
 * All roles are real processes: two directory replicas on one real redis-server, and two
 * introducers, each keeping the directory through one of them (`--directory` takes one address).
 * Six hosts in this process join through the introducers again and again, each time with a newer
 * record, and a stream of Resolve calls looks them up.
 *
 * While an introducer's directory replica is down, its joins still stand (the newcomer is admitted
 * and gossips; the introducer registers it once its replica answers again): an answer, not an
 * error. Lookups are of hosts whose join was registered.
 *
 * The clients are the ones a user would write (support/failover.ts): a call that fails with
 * UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED is made once more on the other replica. What must
 * hold: no error survives that retry (the count of such errors is 0), and joins go on through the
 * replica that is left while the other is down. Each replica comes back (same port, same key)
 * before the next is killed.
 */
import { ChannelCredentials, Metadata, ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntroducerClient } from '../../services/client/introducer-client';
import { DirectoryServiceClient, ResolveResponse } from '../../services/gen/grapevine/v1/directory';
import type { RunningHost } from '../../services/host/server';
import { checkHealth } from '../support/grpc-probes';
import { startTestHost, waitUntil } from '../support/hosts';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import {
  describeTally,
  failedCount,
  newTally,
  REPLICA_CHANNEL_OPTIONS,
  withFailover,
  type FailoverTally,
} from './support/failover';
import {
  kill9,
  sleep,
  startDirectoryProcess,
  startIntroducerProcess,
  terminate,
  type RoleProcess,
} from './support/roles';

const NETWORK = 'default';
const JOINERS = 6;
const LOOKUPS_PER_S = 50;
/**
 * Each joiner joins again at most this often. Unpaced, six joiners sign and gossip hundreds of
 * records a second and stall this process for seconds when CI runs another suite beside it.
 */
const JOIN_EVERY_MS = 25;
/**
 * Deadlines far above a healthy call's: a replica that was killed fails a call at once
 * (UNAVAILABLE), so these only decide how long a busy machine may take to answer.
 */
const JOIN_DEADLINE_MS = 10_000;
const LOOKUP_DEADLINE_MS = 5_000;
/** How long a killed replica stays down, and how long things run between faults. */
const DOWN_MS = 5_000;
const BETWEEN_MS = 3_000;

jest.setTimeout(240_000);

interface Window {
  readonly name: string;
  readonly joins: FailoverTally;
  readonly lookups: FailoverTally;
  /** Joins that went through, by the introducer that admitted them. */
  readonly joinedVia: Map<string, number>;
}

const newWindow = (name: string): Window => ({
  name,
  joins: newTally(),
  lookups: newTally(),
  joinedVia: new Map(),
});

describe('replicas killed one at a time under joins and lookups', () => {
  let redis: RedisServer;
  const directories: RoleProcess[] = [];
  const introducers: RoleProcess[] = [];
  const keyDirs: string[] = [];
  const joiners: RunningHost[] = [];
  let window = newWindow('warm-up');
  const windows: Window[] = [window];
  /** Joiners whose join was registered: a lookup of them must find them. */
  const registered = new Set<string>();
  let running = true;
  const loops: Promise<void>[] = [];
  let introducerClients: IntroducerClient[] = [];
  let lookupClients: DirectoryServiceClient[] = [];

  const enter = (name: string) => {
    window = newWindow(name);
    windows.push(window);
  };

  const introducerArgs = (keyDir: string) => [
    '--key-file',
    join(keyDir, 'introducer.key'),
    '--joins-per-source-per-second',
    '1000',
    // Replica kills are tested here, not failure detection: a joiner in this busy process that
    // answers a probe late must not be evicted, or a lookup of it answers NOT_FOUND for that reason.
    '--member-suspicion-ms',
    '600000',
    // Likewise a dial-back answered late by a joiner in this busy process is not a replica fault.
    '--dial-back-timeout-ms',
    '8000',
    // And the WAN profile's timings: a connection to a peer is dropped once a keepalive ping goes
    // unanswered for twice the probe interval, 2 s on the default profile (10 s on WAN), and a
    // joiner here stalled that long when another suite ran beside this one (dial-backs failed
    // with "Connection dropped").
    '--profile',
    'wan',
    '--shutdown-grace-ms',
    '1000',
  ];

  async function restartDirectory(i: number): Promise<void> {
    directories[i] = await startDirectoryProcess({ redisUrl: redis.url, grpcPort: directories[i]!.grpcPort });
  }

  async function restartIntroducer(i: number): Promise<void> {
    introducers[i] = await startIntroducerProcess({
      directory: directories[i]!.address,
      grpcPort: introducers[i]!.grpcPort,
      extraArgs: introducerArgs(keyDirs[i]!),
    });
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    directories.push(...(await Promise.all([0, 1].map(() => startDirectoryProcess({ redisUrl: redis.url })))));
    for (let i = 0; i < 2; i++) {
      keyDirs.push(mkdtempSync(join(tmpdir(), 'grapevine-fault-')));
      introducers.push(
        await startIntroducerProcess({ directory: directories[i]!.address, extraArgs: introducerArgs(keyDirs[i]!) }),
      );
    }
    joiners.push(...(await Promise.all(Array.from({ length: JOINERS }, () => startTestHost()))));
    introducerClients = introducers.map(
      (i) => new IntroducerClient(i.address, { deadlineMs: JOIN_DEADLINE_MS, channelOptions: REPLICA_CHANNEL_OPTIONS }),
    );
    lookupClients = directories.map(
      (d) => new DirectoryServiceClient(d.address, ChannelCredentials.createInsecure(), REPLICA_CHANNEL_OPTIONS),
    );

    // Each joiner joins again and again, with a newer record each time, preferring one introducer.
    for (const [n, joiner] of joiners.entries()) {
      loops.push(
        (async () => {
          while (running) {
            const started = Date.now();
            const current = window;
            const record = joiner.reissueRecord();
            const joined = await withFailover(
              introducerClients,
              n % 2,
              (client) => client.join(record).then((answer) => ({ answer, via: client.address })),
              current.joins,
            );
            if (joined) {
              current.joinedVia.set(joined.via, (current.joinedVia.get(joined.via) ?? 0) + 1);
              if (joined.answer.leaseId !== '') registered.add(joiner.peerId);
            }
            await sleep(Math.max(0, JOIN_EVERY_MS - (Date.now() - started)) + (joined ? 0 : 100));
          }
        })(),
      );
    }
    // Lookups at a steady rate, half preferring each directory replica.
    loops.push(
      (async () => {
        let n = 0;
        while (running) {
          const ids = [...registered];
          if (ids.length > 0) {
            const current = window;
            const peerId = ids[n % ids.length]!;
            void withFailover(
              lookupClients,
              n % 2,
              (client) =>
                new Promise<ResolveResponse>((resolve, reject) =>
                  client.resolve(
                    { network: NETWORK, target: { $case: 'peerId', value: peerId } },
                    new Metadata(),
                    { deadline: Date.now() + LOOKUP_DEADLINE_MS },
                    (error: ServiceError | null, response?: ResolveResponse) =>
                      error ? reject(error) : resolve(response!),
                  ),
                ),
              current.lookups,
            );
            n++;
          }
          await sleep(1_000 / LOOKUPS_PER_S);
        }
      })(),
    );
    await waitUntil(() => registered.size === JOINERS, 30_000, 'every joiner registered through a join');
  });

  afterAll(async () => {
    running = false;
    await Promise.all(loops);
    introducerClients.forEach((c) => c.close());
    lookupClients.forEach((c) => c.close());
    await Promise.all(joiners.map((h) => h.stop()));
    await Promise.all([...introducers, ...directories].map((p) => terminate(p.process)));
    await redis?.stop();
    keyDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
    const lines = windows.map((w) => {
      const via = [...w.joinedVia].map(([address, n]) => `${address} ${n}`).join(', ');
      return `${w.name}:\n    joins: ${describeTally(w.joins)} (admitted by ${via || 'nobody'})\n    lookups: ${describeTally(w.lookups)}`;
    });
    console.log(`replica kills, figures:\n  ${lines.join('\n  ')}`);
  });

  /** Kills a replica, keeps it down for DOWN_MS, restarts it and lets things run BETWEEN_MS. */
  async function killAndRestart(
    name: string,
    victim: () => RoleProcess,
    restart: () => Promise<void>,
  ): Promise<Window> {
    await sleep(BETWEEN_MS);
    enter(`${name} down`);
    const down = window;
    await kill9(victim().process);
    await sleep(DOWN_MS);
    enter(`${name} back`);
    await restart();
    await sleep(BETWEEN_MS);
    return down;
  }

  const survivorOf = (i: number) => introducers[1 - i]!.address;

  test.each([0, 1])('directory replica %i killed: joins and lookups go on, no error survives a retry', async (i) => {
    const down = await killAndRestart(
      `directory ${i}`,
      () => directories[i]!,
      () => restartDirectory(i),
    );
    // Its health answers again as soon as a new connection reaches it.
    await waitUntil(async () => (await checkHealth(directories[i]!.address)) === 'SERVING', 10_000, 'health SERVING');
    expect(failedCount(down.joins)).toBe(0);
    expect(failedCount(down.lookups)).toBe(0);
    expect(down.joins.calls - failedCount(down.joins)).toBeGreaterThan(0);
    expect(down.lookups.fixedByRetry).toBeGreaterThan(0);
  });

  test.each([0, 1])('introducer %i killed: joins go on through the other, no error survives a retry', async (i) => {
    const down = await killAndRestart(
      `introducer ${i}`,
      () => introducers[i]!,
      () => restartIntroducer(i),
    );
    expect(failedCount(down.joins)).toBe(0);
    expect(failedCount(down.lookups)).toBe(0);
    expect(down.joinedVia.get(survivorOf(i)) ?? 0).toBeGreaterThan(0);
    expect(down.joins.fixedByRetry).toBeGreaterThan(0);
  });

  test('after the faults, every window together: no error a retry would not fix', () => {
    const persistent = windows.reduce((sum, w) => sum + failedCount(w.joins) + failedCount(w.lookups), 0);
    console.log(`errors that survived a retry on the other replica: ${persistent}`);
    // The windows with errors, with examples, so that a failure says what went wrong and when.
    const failing = windows
      .filter((w) => failedCount(w.joins) + failedCount(w.lookups) > 0)
      .map((w) => `${w.name}: joins ${describeTally(w.joins)}; lookups ${describeTally(w.lookups)}`);
    expect(failing).toEqual([]);
    expect(persistent).toBe(0);
  });
});
