import { WatchResponse } from '../gen/grapevine/v1/directory';
import { generateIdentity } from '../common/identity';
import { signRecord } from '../common/records';
import { encodeWatchBatch, encodeWatchResponse, toWatchEvent } from './watch-encoding';
import { ChangeEvent } from './store/store';

describe('watch response encoding', () => {
  const signed = signRecord(generateIdentity(), {
    network: 'default',
    name: 'a',
    addresses: ['127.0.0.1:1'],
    labels: {},
    seq: 1,
    issuedAtMs: 1,
    withdrawn: false,
  });
  const events: ChangeEvent[] = [
    { type: 'put', revision: 41, peerId: 'p1', signed },
    { type: 'delete', revision: 42, peerId: 'p1', signed, reason: 'expired' },
  ];

  test.each([
    ['no events, a progress revision', [], 7],
    ['one event', events.slice(0, 1), 41],
    ['two events', events, 42],
    ['nothing at all', [], 0],
  ])('%s: the same bytes as the generated encoder', (_case, batch, revision) => {
    const expected = Buffer.from(WatchResponse.encode({ events: batch.map(toWatchEvent), revision }).finish());
    expect(encodeWatchResponse(batch, revision)).toEqual(expected);
    // Twice, so the cached path is checked too.
    expect(encodeWatchResponse(batch, revision)).toEqual(expected);
  });

  test('a batch and its framed events own their memory, since the fan-out keeps them', () => {
    const batch = encodeWatchBatch(events, 42);
    expect(batch.framed.byteOffset).toBe(0);
    expect(batch.framed.buffer.byteLength).toBe(batch.framed.length);
    // The message is the frame after its 5-byte prefix: a view of the same memory.
    expect(batch.bytes.buffer).toBe(batch.framed.buffer);
  });
});
