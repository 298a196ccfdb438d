/**
 * A client that vanishes without closing its connection: its process is frozen (SIGSTOP), so its
 * kernel still acknowledges every packet while nothing above it answers, which is what a crashed
 * machine, a cut link or a suspended VM looks like from the server. Its stream has nothing to
 * send, so only the server's keepalive pings can find it; they must end the stream and free its
 * slot, while an idle client that is alive answers them and keeps its stream.
 */
import { Registry } from '../../services/common/metrics';
import type { RunningHost } from '../../services/host/server';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import { scrape, seriesValue } from '../support/metrics-text';
import { runGrapevine, type GrapevineProcess } from '../support/processes';

const KEEPALIVE = { keepaliveMs: 1_000, keepaliveTimeoutMs: 2_000 };
/**
 * Four pings: a stream wrongly cut while its client answers them would show. The timeout leaves a
 * busy test machine room to answer.
 */
const IDLE_MS = 4_000;

interface Server {
  /** The open streams the server counts (watchers, or Receive streams). */
  streams(): Promise<number | undefined>;
  /** The `grapevine` command line of a client that opens one stream and waits. */
  readonly client: string[];
  stop(): Promise<void>;
}

async function directoryServer(): Promise<Server> {
  const dir: TestDirectory = await startTestDirectory(KEEPALIVE);
  const metricsPort = dir.directory.metricsPort!;
  return {
    streams: async () => seriesValue(await scrape(metricsPort), 'grapevine_directory_watchers'),
    client: ['peers', 'watch', '--directory', dir.address],
    stop: () => dir.stop(),
  };
}

async function hostServer(): Promise<Server> {
  const registry = new Registry();
  const host: RunningHost = await startTestHost(KEEPALIVE, undefined, { registry });
  return {
    streams: async () => seriesValue(await registry.metrics(), 'grapevine_host_receivers'),
    client: ['host', 'receive', '--host-address', host.appAddress!],
    stop: () => host.stop(),
  };
}

describe.each([
  ['a directory Watch', directoryServer],
  ['a host Receive', hostServer],
])('%s from a client that vanishes', (what, start) => {
  let server: Server;
  let client: GrapevineProcess | undefined;

  beforeAll(async () => {
    server = await start();
  });

  afterAll(async () => {
    client?.child.kill('SIGKILL');
    await client?.exited();
    await server.stop();
  });

  it('stays open while the client answers the keepalive pings, and ends once it stops answering', async () => {
    client = runGrapevine(server.client, { GRAPEVINE_PLAINTEXT: 'true' });
    await waitUntil(async () => (await server.streams()) === 1, 30_000, 'the stream to open');

    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const afterIdle = await server.streams();

    client.child.kill('SIGSTOP');
    const frozenAt = Date.now();
    await waitUntil(async () => (await server.streams()) === 0, 15_000, 'the frozen client’s stream to end');
    console.info(
      `${what}: open through ${IDLE_MS} ms of keepalive pings every ${KEEPALIVE.keepaliveMs} ms; ` +
        `ended ${Date.now() - frozenAt} ms after the client froze (ping timeout ${KEEPALIVE.keepaliveTimeoutMs} ms)`,
    );
    expect(afterIdle).toBe(1);
    expect(await server.streams()).toBe(0);
  });
});
