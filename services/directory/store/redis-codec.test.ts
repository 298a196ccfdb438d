import { generateIdentity, signed as signedRecord } from '../../../test/support/records';
import { decodeLogEntry } from './redis-codec';

describe('change log entries', () => {
  const signed = signedRecord(generateIdentity(), { name: 'a', seq: 3 });

  test('an event keeps its bytes in memory of its own, not in the reply it was read from', () => {
    // As the Redis client hands them over: fields that are views into one larger reply.
    const reply = Buffer.concat([
      Buffer.from('k'),
      Buffer.from('p'),
      Buffer.from('r'),
      signed.record,
      Buffer.from('s'),
      signed.signature,
    ]);
    let at = 0;
    const take = (n: number) => reply.subarray(at, (at += n));
    const fields = [take(1), take(1), take(1), take(signed.record.length), take(1), take(signed.signature.length)];
    const event = decodeLogEntry('17-0', fields);
    reply.fill(0);
    expect(event).toMatchObject({ type: 'put', revision: 17 });
    expect(Buffer.from(event.signed.record).equals(signed.record)).toBe(true);
    expect(Buffer.from(event.signed.signature).equals(signed.signature)).toBe(true);
    for (const bytes of [event.signed.record, event.signed.signature]) {
      expect(bytes.byteOffset).toBe(0);
      expect(bytes.buffer.byteLength).toBe(bytes.length);
    }
  });

  test('an entry that is not a change event is refused by name', () => {
    expect(() => decodeLogEntry('18-0', [Buffer.from('k'), Buffer.from('x')])).toThrow(
      /18-0 is not a Grapevine change event/,
    );
  });
});
