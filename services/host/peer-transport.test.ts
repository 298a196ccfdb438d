import {
  ChannelCredentials,
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerReadableStream,
} from '@grpc/grpc-js';
import { startFaultProxy, type FaultProxy } from '../../test/support/fault-proxy';
import { silentLogger } from '../common/logging';
import { Registry } from '../common/metrics';
import { HostServiceService, type PushRequest } from '../gen/grapevine/v1/host';
import { createHostMetrics } from './metrics';
import { channelTarget, PeerTransport } from './peer-transport';

/** How long a one-way message may wait for its peer's connection (the handshake deadline). */
const CONNECT_WAIT_MS = 300;

describe('one-way peer messages wait for a connection, briefly', () => {
  let server: Server;
  let serverAddress = '';
  const pushed: PushRequest[] = [];
  const proxies: FaultProxy[] = [];
  const transports: PeerTransport[] = [];

  beforeAll(async () => {
    server = new Server();
    server.addService(HostServiceService, {
      push: (call: ServerReadableStream<PushRequest, object>, callback: sendUnaryData<object>) => {
        call.on('data', (request: PushRequest) => pushed.push(request));
        call.on('end', () => callback(null, {}));
        call.on('error', () => undefined);
      },
    } as never);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    serverAddress = `127.0.0.1:${port}`;
  });

  afterEach(async () => {
    transports.splice(0).forEach((t) => t.close());
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    pushed.length = 0;
  });

  afterAll(() => server.forceShutdown());

  function transport(): { transport: PeerTransport; registry: Registry } {
    const registry = new Registry();
    const t = new PeerTransport({
      credentials: ChannelCredentials.createInsecure(),
      interceptors: [],
      deadlineMs: (method) => (method === 'handshake' ? CONNECT_WAIT_MS : 1_000),
      deliver: () => undefined,
      metrics: createHostMetrics(registry, () => undefined),
      log: silentLogger(),
      maxConnections: 8,
    });
    transports.push(t);
    return { transport: t, registry };
  }

  const gossip = (address: string, n: number) => ({
    to: `peer-${n}`,
    address,
    message: { type: 'gossip' as const, from: 'me', fromAddress: '127.0.0.1:1', updates: [] },
  });

  async function notConnected(registry: Registry): Promise<number> {
    const metric = await registry.getSingleMetric('grapevine_host_call_failures_total')!.get();
    return metric.values.filter((v) => v.labels.code === 'NOT_CONNECTED').reduce((sum, v) => sum + v.value, 0);
  }

  async function settle(ms: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  it('delivers messages sent while the connection was being made, once it is up', async () => {
    // The proxy holds the connection back for less than the wait: every message gets through.
    const proxy = await startFaultProxy({ target: serverAddress, downstream: { latencyMs: CONNECT_WAIT_MS / 3 } });
    proxies.push(proxy);
    const { transport: t, registry } = transport();
    for (let n = 0; n < 3; n++) t.send(gossip(proxy.address, n));
    await settle(CONNECT_WAIT_MS * 3);
    expect(pushed).toHaveLength(3);
    expect(await notConnected(registry)).toBe(0);
  });

  it('drops messages whose peer is not reached in time, rather than delivering them late', async () => {
    // Longer than the wait: the connection comes up after the messages were given up.
    const proxy = await startFaultProxy({ target: serverAddress, downstream: { latencyMs: CONNECT_WAIT_MS * 4 } });
    proxies.push(proxy);
    const { transport: t, registry } = transport();
    for (let n = 0; n < 3; n++) t.send(gossip(proxy.address, n));
    await settle(CONNECT_WAIT_MS * 10);
    expect(await notConnected(registry)).toBe(3);
    expect(pushed).toHaveLength(0);
    // Now connected, the next message goes straight through.
    t.send(gossip(proxy.address, 9));
    await settle(CONNECT_WAIT_MS * 8);
    expect(pushed).toHaveLength(1);
  });

  it('drops what waits for a peer it forgets', async () => {
    const proxy = await startFaultProxy({ target: serverAddress, downstream: { latencyMs: CONNECT_WAIT_MS * 4 } });
    proxies.push(proxy);
    const { transport: t, registry } = transport();
    t.send(gossip(proxy.address, 1));
    t.forget(proxy.address);
    await settle(CONNECT_WAIT_MS * 10);
    expect(await notConnected(registry)).toBe(1);
    expect(pushed).toHaveLength(0);
  });
});

describe('channel targets', () => {
  it.each([
    ['127.0.0.1:7601', 'ipv4:127.0.0.1:7601'],
    ['10.1.2.3:443', 'ipv4:10.1.2.3:443'],
    ['[::1]:7601', 'ipv6:[::1]:7601'],
    ['[2001:db8::7]:7946', 'ipv6:[2001:db8::7]:7946'],
    ['host-0.grapevine.svc.cluster.local:7600', 'host-0.grapevine.svc.cluster.local:7600'],
    ['localhost:7601', 'localhost:7601'],
    ['999.1.1.1:7601', '999.1.1.1:7601'],
  ])('%s dials %s', (address, target) => {
    expect(channelTarget(address)).toBe(target);
  });
});
