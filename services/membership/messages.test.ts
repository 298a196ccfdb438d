import { FRAME_BYTES, messageBytes, RECORD_BYTES, UpdateKind, type Message, type Update } from './messages';

const blob = { record: new Uint8Array(0), signature: new Uint8Array(0) };
const header = { from: 'a', fromAddress: '10.0.0.1:1' };
const update: Update = { kind: UpdateKind.Suspect, peer: 'b', incarnation: 3, from: 'a' };

describe('messageBytes (the simulator size model)', () => {
  const ping: Message = { type: 'ping', ...header, seq: 1, neighbor: true, updates: [] };
  it('counts framing, header and fields for a bare ping', () => {
    expect(messageBytes(ping)).toBe(FRAME_BYTES + 55 + 16 + 5 + 2);
  });

  it('adds each piggybacked update, and a record when it carries one', () => {
    const one = messageBytes({ ...ping, updates: [update] });
    const withRecord = messageBytes({ ...ping, updates: [{ ...update, kind: UpdateKind.Alive, record: blob }] });
    expect(one - messageBytes(ping)).toBe(119);
    expect(withRecord - one).toBe(RECORD_BYTES);
  });

  it('grows with the records of a shuffle and the payload of a flood', () => {
    const shuffle = (n: number): Message => ({
      type: 'shuffle',
      ...header,
      origin: 'a',
      originAddress: 'x:1',
      records: new Array(n).fill(blob),
      ttl: 3,
    });
    expect(messageBytes(shuffle(8)) - messageBytes(shuffle(0))).toBe(8 * RECORD_BYTES);
    const flood = (n: number): Message => ({
      type: 'flood',
      ...header,
      id: 'f',
      origin: 'a',
      ttl: 16,
      hops: 1,
      payload: new Uint8Array(n),
    });
    expect(messageBytes(flood(256)) - messageBytes(flood(0))).toBe(256);
  });
});
