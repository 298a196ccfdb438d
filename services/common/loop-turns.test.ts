import { AddressInfo, Server, Socket, createServer, connect } from 'node:net';
import { LoopTurns } from './loop-turns';

/** Holds the thread, as decoding a large page does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('LoopTurns', () => {
  let server: Server;
  let client: Socket;
  let log: string[];

  beforeEach(async () => {
    log = [];
    server = createServer((socket) => socket.on('data', () => log.push('io')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    // Let the server take the connection before the test holds the thread.
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  afterEach(async () => {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Five pieces of work released at once, as replies of one pipeline are, and a byte sent meanwhile. */
  async function pieces(work: (i: number) => Promise<void>): Promise<void> {
    const all = Promise.all(Array.from({ length: 5 }, (_, i) => Promise.resolve().then(() => work(i))));
    client.write('x');
    await all;
    // Whatever was not served in between is served now.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  it('serves I/O that arrives between two pieces of work that each took a turn', async () => {
    const turns = new LoopTurns();
    await pieces(async (i) => {
      await turns.take();
      busy(20);
      log.push(`work ${i}`);
    });
    expect(log.filter((entry) => entry.startsWith('work'))).toEqual(['work 0', 'work 1', 'work 2', 'work 3', 'work 4']);
    // Served before the work is all done, not after it.
    expect(log.indexOf('io')).toBeLessThan(log.indexOf('work 4'));
    expect(turns.queued).toBe(0);
  });

  it('without turns, the same work holds the loop until all of it is done', async () => {
    await pieces(async (i) => {
      busy(20);
      log.push(`work ${i}`);
    });
    expect(log.at(-1)).toBe('io');
  });
});
