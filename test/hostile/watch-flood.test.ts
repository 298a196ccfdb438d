/**
 * A client that opens Watch streams without end. The defence is the watcher bound per client
 * address (MAX_WATCHERS_PER_CLIENT in services/common/limits.ts): past it Watch answers
 * RESOURCE_EXHAUSTED, a refused watch holds nothing (no slot, no timer), and a closed one frees
 * its slot.
 */
import { ChannelCredentials, Client, ClientReadableStream, Metadata, ServiceError, status } from '@grpc/grpc-js';
import { MAX_WATCHERS_PER_CLIENT } from '../../services/common/limits';
import { WatchRequest } from '../../services/gen/grapevine/v1/directory';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { waitUntil } from '../support/hosts';
import { countCodes, formatCounts } from './attacker';

const WATCH = '/grapevine.v1.DirectoryService/Watch';
const REFUSED = 100;

describe('a client opening watches without end', () => {
  let dir: TestDirectory;
  let client: Client;
  const open: ClientReadableStream<Buffer>[] = [];

  beforeAll(async () => {
    dir = await startTestDirectory();
    client = new Client(dir.address, ChannelCredentials.createInsecure());
  });

  afterAll(async () => {
    open.forEach((call) => call.cancel());
    client.close();
    await dir.stop();
  });

  /** Opens a watch; resolves with "OPEN" once its first message arrives, or with the code it ended with. */
  function watch(): Promise<{ code: string; details: string; call: ClientReadableStream<Buffer> }> {
    const request = Buffer.from(WatchRequest.encode({ network: 'default' }).finish());
    const call = client.makeServerStreamRequest(
      WATCH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      new Metadata(),
    ) as ClientReadableStream<Buffer>;
    return new Promise((resolve) => {
      call.once('data', () => resolve({ code: 'OPEN', details: '', call }));
      call.on('error', (error: ServiceError) => resolve({ code: status[error.code], details: error.details, call }));
    });
  }

  const watchers = async () => {
    const text = await (await fetch(`http://127.0.0.1:${dir.directory.metricsPort}/metrics`)).text();
    return Number(/^grapevine_directory_watchers (\d+)$/m.exec(text)?.[1]);
  };
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it(`serves ${MAX_WATCHERS_PER_CLIENT} watches to one address and refuses the rest, holding nothing for them`, async () => {
    const admitted = [];
    for (let start = 0; start < MAX_WATCHERS_PER_CLIENT; start += 100) {
      admitted.push(...(await Promise.all(Array.from({ length: 100 }, () => watch()))));
    }
    open.push(...admitted.map((w) => w.call));
    const timersBefore = timers();
    const refused = await Promise.all(Array.from({ length: REFUSED }, () => watch()));
    for (const r of refused) if (r.code === 'RESOURCE_EXHAUSTED') expect(r.details).toContain('watches');
    const timersAfter = timers();
    const held = await watchers();

    // Closing one frees its slot for the next.
    open.shift()!.cancel();
    await waitUntil(async () => (await watchers()) === MAX_WATCHERS_PER_CLIENT - 1, 5_000, 'the slot to be freed');
    const again = await watch();
    open.push(again.call);
    console.info(
      `Watch flood: ${MAX_WATCHERS_PER_CLIENT + REFUSED} watches from 127.0.0.1 -> ` +
        `${formatCounts(countCodes([...admitted, ...refused]))} (MAX_WATCHERS_PER_CLIENT ${MAX_WATCHERS_PER_CLIENT}); ` +
        `the directory holds ${held} watchers; timers ${timersBefore} before the refused ones, ${timersAfter} after; ` +
        `after one closes, a new one is ${again.code}`,
    );
    expect(admitted.every((w) => w.code === 'OPEN')).toBe(true);
    expect(refused.every((r) => r.code === 'RESOURCE_EXHAUSTED')).toBe(true);
    expect(held).toBe(MAX_WATCHERS_PER_CLIENT);
    // A refused watch leaves no timer behind (a few unrelated timers may come and go).
    expect(timersAfter - timersBefore).toBeLessThan(REFUSED / 10);
    expect(again.code).toBe('OPEN');
  });
});
