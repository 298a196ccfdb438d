import { openRecord } from '../../common/records';
import { generateIdentity, signed as signedRecord } from '../../../test/support/records';
import { createMemoryStore } from './memory-store';
import { parseLeaseId, watchRangeProblem } from './store-rules';
import { describeStoreContract } from './store-contract';

describeStoreContract('memory', async (options) => {
  const store = createMemoryStore(options);
  return { store, close: () => store.close() };
});

describe('memory store', () => {
  it.each([
    ['default.abcdefghijklmnopqrstuvwx', { network: 'default', secret: 'abcdefghijklmnopqrstuvwx' }],
    ['a-b.234567abcdefghijklmnopqr', { network: 'a-b', secret: '234567abcdefghijklmnopqr' }],
    ['default.abcdefghijklmnopqrstuvw', undefined],
    ['default.ABCDEFGHIJKLMNOPQRSTUVWX', undefined],
    ['Default.abcdefghijklmnopqrstuvwx', undefined],
    ['.abcdefghijklmnopqrstuvwx', undefined],
    ['default', undefined],
    ['', undefined],
  ])('parses lease id %j', (leaseId, expected) => {
    expect(parseLeaseId(leaseId)).toEqual(expected);
  });

  it.each([
    // from, current, first retained, problem?
    [0, 0, 1, false],
    [5, 5, 6, false],
    [6, 5, 6, true],
    [3, 10, 4, false],
    [2, 10, 4, true],
    [-1, 10, 1, true],
    [1.5, 10, 1, true],
  ])('watch from %d at revision %d with the log from %d: out of range %s', (from, current, first, problem) => {
    expect(watchRangeProblem('n', from, current, first)?.name).toBe(problem ? 'OutOfRangeError' : undefined);
  });

  it('keeps copies of the signed bytes, not views into the request they came in', async () => {
    const store = createMemoryStore({ logRetention: 100, seqFloorRetentionMs: 60_000, now: Date.now });
    const signed = signedRecord(generateIdentity());
    // As a decoded request gives them: views into one larger received message.
    const message = Buffer.concat([Buffer.alloc(16), signed.record, signed.signature]);
    const asReceived = {
      record: message.subarray(16, 16 + signed.record.length),
      signature: message.subarray(16 + signed.record.length),
    };
    const record = openRecord(asReceived);
    await store.register({ record, signed: asReceived, ttlMs: 10_000 });
    message.fill(0);
    const held = await store.resolveById('default', record.peerId);
    expect(Buffer.from(held!.signed.record).equals(signed.record)).toBe(true);
    expect(Buffer.from(held!.signed.signature).equals(signed.signature)).toBe(true);
    expect(held!.signed.record.buffer.byteLength).toBe(signed.record.length);
    await store.close();
  });

  it('rejects options out of range', () => {
    expect(() => createMemoryStore({ logRetention: 0, seqFloorRetentionMs: 1, now: Date.now })).toThrow(RangeError);
    expect(() => createMemoryStore({ logRetention: 1, seqFloorRetentionMs: 0, now: Date.now })).toThrow(RangeError);
  });
});
