/**
 * The fault-injecting TCP proxy against a real echo server on loopback: bytes arrive whole and in
 * order whatever the faults, latency and losses delay them by at least what they are set to, a
 * segment lost too often resets the connection, and cut() resets every open one.
 */
import { createServer, Server, Socket, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { FaultProxy, startFaultProxy } from './fault-proxy';

let echo: Server;
let echoAddress = '';
const proxies: FaultProxy[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  echo = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = echo.address();
  if (address === null || typeof address === 'string') throw new Error('no echo address');
  echoAddress = `127.0.0.1:${address.port}`;
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

afterAll(async () => {
  sockets.forEach((socket) => socket.destroy());
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function proxy(options: Omit<Parameters<typeof startFaultProxy>[0], 'target'>): Promise<FaultProxy> {
  const started = await startFaultProxy({ target: echoAddress, ...options });
  proxies.push(started);
  return started;
}

/** Sends `payload` through the proxy in `pieces` writes and resolves with what comes back. */
function roundTrip(address: string, payload: Buffer, pieces = 1): Promise<{ echoed: Buffer; ms: number }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = connect({ host, port: Number(port) }, () => {
      const size = Math.ceil(payload.length / pieces);
      for (let offset = 0; offset < payload.length; offset += size)
        socket.write(payload.subarray(offset, offset + size));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.end();
        resolve({ echoed: Buffer.concat(chunks), ms: performance.now() - started });
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (received < payload.length)
        reject(new Error(`connection closed after ${received} of ${payload.length} bytes`));
    });
  });
}

describe('fault proxy', () => {
  it('forwards bytes both ways, whole and in order, with no faults', async () => {
    const p = await proxy({});
    const payload = randomBytes(200_000);
    const { echoed } = await roundTrip(p.address, payload, 7);
    expect(echoed.equals(payload)).toBe(true);
    expect(p.stats()).toMatchObject({ connections: 1, lostSegments: 0, resets: 0 });
  });

  it('delays each direction by its latency', async () => {
    const p = await proxy({ upstream: { latencyMs: 60 }, downstream: { latencyMs: 40 } });
    const { echoed, ms } = await roundTrip(p.address, Buffer.from('ping'));
    expect(echoed.toString()).toBe('ping');
    // Both one-way delays, at least: a bound the configuration sets, not a speed.
    expect(ms).toBeGreaterThanOrEqual(100);
  });

  it('under heavy loss still delivers every byte in order, each lost segment costing a retransmission timeout', async () => {
    const p = await proxy({
      faults: { lossRate: 0.3, retransmitTimeoutMs: 20, synTimeoutMs: 20, segmentBytes: 100 },
      seed: 7,
    });
    const payload = randomBytes(20_000);
    const { echoed } = await roundTrip(p.address, payload, 13);
    expect(echoed.equals(payload)).toBe(true);
    const stats = p.stats();
    // 200 segments each way at 30%: losses are certain with this seed, and none reset the link.
    expect(stats.lostSegments).toBeGreaterThan(0);
    expect(stats.resets).toBe(0);
    expect(stats.bytes).toBe(2 * payload.length);
  });

  it('makes a small message wait a retransmission timeout when its only segment is lost', async () => {
    // SYN losses would cost time too; here only the data segments are in question.
    const p = await proxy({
      upstream: { lossRate: 0.3, retransmitTimeoutMs: 150, synTimeoutMs: 0, maxRetransmits: 20 },
      seed: 2,
    });
    const results: { ms: number; lost: number }[] = [];
    for (let i = 0; i < 8; i++) {
      const before = p.stats().lostSegments;
      const { ms } = await roundTrip(p.address, Buffer.from(`message ${i}`));
      results.push({ ms, lost: p.stats().lostSegments - before });
    }
    const delayed = results.filter((r) => r.lost > 0);
    expect(delayed.length).toBeGreaterThan(0);
    for (const r of delayed) expect(r.ms).toBeGreaterThanOrEqual(150);
  });

  it('holds a new connection back by the SYN timeout when its SYN is lost', async () => {
    // Seed 8 loses the SYN once; data losses cost nothing here (retransmitTimeoutMs 0).
    const p = await proxy({ upstream: { lossRate: 0.5, synTimeoutMs: 120, retransmitTimeoutMs: 0 }, seed: 8 });
    const { ms } = await roundTrip(p.address, Buffer.from('x'));
    const { lostSyns } = p.stats();
    expect(lostSyns).toBeGreaterThan(0);
    expect(ms).toBeGreaterThanOrEqual(120);
  });

  it('resets the connection when a segment is lost more often than maxRetransmits', async () => {
    const p = await proxy({ upstream: { lossRate: 1, retransmitTimeoutMs: 10, maxRetransmits: 2 } });
    await expect(roundTrip(p.address, Buffer.from('never'))).rejects.toThrow();
    expect(p.stats().resets).toBe(1);
  });

  it('cut() resets every open connection and new ones still work', async () => {
    const p = await proxy({});
    const [host, port] = p.address.split(':');
    const socket = connect({ host, port: Number(port) });
    await new Promise((resolve) => socket.once('connect', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = new Promise<string>((resolve) => {
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.on('close', () => resolve('closed'));
    });
    p.cut();
    expect(['ECONNRESET', 'closed']).toContain(await closed);
    expect(p.stats().openConnections).toBe(0);
    const { echoed } = await roundTrip(p.address, Buffer.from('after the cut'));
    expect(echoed.toString()).toBe('after the cut');
  });

  it('setFaults changes the faults of a running proxy', async () => {
    const p = await proxy({});
    p.setFaults({ latencyMs: 80 }, 'downstream');
    const { ms } = await roundTrip(p.address, Buffer.from('slow'));
    expect(ms).toBeGreaterThanOrEqual(80);
    expect(() => p.setFaults({ lossRate: 2 })).toThrow(RangeError);
  });

  it('listens on another loopback address when asked', async () => {
    const p = await proxy({ host: '127.0.3.1' });
    expect(p.address).toBe(`127.0.3.1:${p.port}`);
    const { echoed } = await roundTrip(p.address, Buffer.from('elsewhere'));
    expect(echoed.toString()).toBe('elsewhere');
  });

  it('resets the client when the target does not answer', async () => {
    const p = await startFaultProxy({ target: '127.0.0.1:1' });
    proxies.push(p);
    await expect(roundTrip(p.address, Buffer.from('nobody'))).rejects.toThrow();
  });
});
