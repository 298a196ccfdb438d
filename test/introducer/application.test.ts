/**
 * An introducer's application listener (`application`): off by default; when on, an operator reads
 * the introducer's views with Peers (as `grapevine host peers` does), behind the appToken. Real
 * Directory on a real redis-server, a real introducer and host over gRPC on loopback.
 */
import { ServiceError, status } from '@grpc/grpc-js';
import { HostClient } from '../../services/client/host-client';
import type { RunningHost } from '../../services/host/server';
import type { RunningIntroducer } from '../../services/introducer/server';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import { startTestIntroducer, TEST_INTRODUCER_TOKEN } from '../support/introducers';
import { startRedisServer, type RedisServer } from '../support/redis-server';

describe("an introducer's application listener", () => {
  const APP_TOKEN = 'operator-s3cret';
  let redis: RedisServer;
  let dir: TestDirectory;
  let plain: RunningIntroducer;
  let introducer: RunningIntroducer;
  let host: RunningHost;

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({ redisUrl: redis.url, introducerToken: TEST_INTRODUCER_TOKEN });
    plain = await startTestIntroducer(dir.address);
    introducer = await startTestIntroducer(dir.address, { application: true, appPort: 0, appToken: APP_TOKEN });
    host = await startTestHost({ seeds: [introducer.address], directory: dir.address });
  });

  afterAll(async () => {
    await host?.stop();
    await introducer?.stop();
    await plain?.stop();
    await dir?.stop();
    await redis?.stop();
  });

  const peersWith = async (appToken?: string) => {
    const client = new HostClient(introducer.appAddress!, { deadlineMs: 3_000, appToken });
    try {
      return await client.peers();
    } finally {
      client.close();
    }
  };

  const errorOf = (call: Promise<unknown>) =>
    call.then(
      () => {
        throw new Error('the call succeeded but an error was expected');
      },
      (error: ServiceError) => error,
    );

  it('is off unless asked for', () => {
    expect(plain.appAddress).toBeUndefined();
    expect(introducer.appAddress).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('answers Peers with the introducer and the host it admitted', async () => {
    await waitUntil(
      async () => (await peersWith(APP_TOKEN)).peers.some((peer) => peer.peerId === host.peerId),
      10_000,
      'the introducer to hold the host in a view',
    );
    const peers = await peersWith(APP_TOKEN);
    expect(peers.peerId).toBe(introducer.peerId);
    expect(peers.address).toBe(introducer.address);
    expect(peers.peers.find((peer) => peer.peerId === host.peerId)?.address).toBe(host.address);
  });

  it('asks for the appToken like a host does', async () => {
    const missing = await errorOf(peersWith(undefined));
    expect(missing.code).toBe(status.UNAUTHENTICATED);
    expect((await errorOf(peersWith('not-it'))).code).toBe(status.PERMISSION_DENIED);
  });
});
