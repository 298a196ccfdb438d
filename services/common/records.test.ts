import fc from 'fast-check';
import { generateIdentity } from './identity';
import { PeerRecord, RecordFields, SignedRecord, openRecord, parseHostPort, signRecord } from './records';

const identity = generateIdentity();

function fields(overrides: Partial<RecordFields> = {}): RecordFields {
  return {
    network: 'default',
    name: 'web-1',
    addresses: ['127.0.0.1:7000', '[::1]:7000', 'peer.example.org:7000'],
    labels: { zone: 'eu-1', 'app.kubernetes.io/name': 'web' },
    seq: 1,
    issuedAtMs: 1_700_000_000_000,
    withdrawn: false,
    ...overrides,
  };
}

function errorName(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as Error).name;
  }
}

describe('peer records', () => {
  const signed = signRecord(identity, fields());

  test('a signed record opens to the same fields, with the signer as peer id', () => {
    expect(openRecord(signed)).toEqual({ ...fields(), peerId: identity.peerId });
  });

  test('relaying keeps the exact bytes: a copy of the bytes verifies without re-encoding', () => {
    const relayed: SignedRecord = { record: Buffer.from(signed.record), signature: Buffer.from(signed.signature) };
    expect(openRecord(relayed).peerId).toBe(identity.peerId);
  });

  test('any change of any record byte fails (PermissionDenied, or InvalidArgument when it no longer parses)', () => {
    fc.assert(
      fc.property(fc.nat({ max: signed.record.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const record = Buffer.from(signed.record);
        record[index] ^= flip;
        const name = errorName(() => openRecord({ record, signature: signed.signature }));
        expect(['PermissionDeniedError', 'InvalidArgumentError', 'ResourceExhaustedError']).toContain(name);
      }),
      { numRuns: 500 },
    );
  });

  test('any change of any signature byte fails with PermissionDenied', () => {
    fc.assert(
      fc.property(fc.nat({ max: 63 }), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const signature = Buffer.from(signed.signature);
        signature[index] ^= flip;
        expect(errorName(() => openRecord({ record: signed.record, signature }))).toBe('PermissionDeniedError');
      }),
      { numRuns: 300 },
    );
  });

  test('a record claiming another id fails with PermissionDenied', () => {
    const other = generateIdentity();
    const forged = Buffer.from(PeerRecord.encode({ ...fields(), peerId: other.peerId }).finish());
    expect(errorName(() => openRecord({ record: forged, signature: signed.signature }))).toBe('PermissionDeniedError');
  });

  test('a signature over the bare bytes (no domain prefix) is refused', () => {
    const { sign } = require('node:crypto') as typeof import('node:crypto');
    const bare = sign(null, signed.record, identity.privateKey);
    expect(errorName(() => openRecord({ record: signed.record, signature: bare }))).toBe('PermissionDeniedError');
  });

  test.each<[string, Partial<RecordFields>]>([
    ['an empty network', { network: '' }],
    ['an upper-case network', { network: 'Prod' }],
    ['a name with an underscore', { name: 'web_1' }],
    ['a 64-character name', { name: 'a'.repeat(64) }],
    ['seq 0', { seq: 0 }],
    ['no address', { addresses: [] }],
    ['an address without a port', { addresses: ['127.0.0.1'] }],
    ['port 0', { addresses: ['127.0.0.1:0'] }],
    ['port 70000', { addresses: ['127.0.0.1:70000'] }],
    ['a label key with a space', { labels: { 'a b': 'x' } }],
    ['a label value with a comma', { labels: { a: 'x,y' } }],
  ])('signing %s is refused with InvalidArgument', (_case, overrides) => {
    expect(errorName(() => signRecord(identity, fields(overrides)))).toBe('InvalidArgumentError');
  });

  test.each<[string, Partial<RecordFields>]>([
    ['nine addresses', { addresses: Array.from({ length: 9 }, (_, i) => `10.0.0.${i}:1`) }],
    ['33 labels', { labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }],
  ])('signing %s is refused with ResourceExhausted: a count past its bound', (_case, overrides) => {
    expect(errorName(() => signRecord(identity, fields(overrides)))).toBe('ResourceExhaustedError');
  });

  test('a withdrawn record may carry no address', () => {
    expect(openRecord(signRecord(identity, fields({ withdrawn: true, addresses: [] }))).withdrawn).toBe(true);
  });

  test('garbage bytes are InvalidArgument, oversize bytes ResourceExhausted, nothing at all InvalidArgument', () => {
    expect(errorName(() => openRecord({ record: Buffer.from([0xff, 0xff, 0xff]), signature: Buffer.alloc(64) }))).toBe(
      'InvalidArgumentError',
    );
    expect(errorName(() => openRecord({ record: Buffer.alloc(5_000, 1), signature: Buffer.alloc(64) }))).toBe(
      'ResourceExhaustedError',
    );
    expect(errorName(() => openRecord(undefined))).toBe('InvalidArgumentError');
  });

  test.each([
    ['127.0.0.1:80', { host: '127.0.0.1', port: 80 }],
    ['[::1]:443', { host: '::1', port: 443 }],
    ['a.b-c.d:65535', { host: 'a.b-c.d', port: 65535 }],
    ['::1:80', undefined],
    ['[127.0.0.1]:80', undefined],
    ['host:', undefined],
    ['-bad.host:1', undefined],
  ])('parseHostPort(%j)', (text, expected) => {
    expect(parseHostPort(text)).toEqual(expected);
  });
});
