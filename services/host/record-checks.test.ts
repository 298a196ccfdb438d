import { generateIdentity } from '../common/identity';
import { signRecord, signRecordKeeping, type SignedRecord } from '../common/records';
import { RecordChecker } from './record-checks';

function record(network: string, seq: number): SignedRecord {
  return signRecord(generateIdentity(), {
    network,
    name: '',
    addresses: ['127.0.0.1:7000'],
    labels: {},
    seq,
    issuedAtMs: 1_000,
    withdrawn: false,
  });
}

describe('RecordChecker', () => {
  it('opens a record once verified and answers the same record again from memory', () => {
    const checker = new RecordChecker('lab');
    const signed = record('lab', 7);
    const first = checker.open(signed, 'record');
    expect(first.seq).toBe(7);
    // A copy of the bytes, as a relayed record arrives: the same verdict, the same record.
    expect(
      checker.open({ record: Buffer.from(signed.record), signature: Buffer.from(signed.signature) }, 'record'),
    ).toBe(first);
  });

  it('never lets a remembered signature vouch for changed bytes', () => {
    const checker = new RecordChecker('lab');
    const signed = record('lab', 7);
    checker.open(signed, 'record');
    const changed = Buffer.from(signed.record);
    changed[changed.length - 1] ^= 1;
    expect(() => checker.open({ record: changed, signature: signed.signature }, 'relayed')).toThrow(
      expect.objectContaining({ name: 'PermissionDeniedError', message: expect.stringMatching(/^relayed: signature/) }),
    );
  });

  it('checks the network on every open, though hosts of other networks share the memory', () => {
    const signed = record('lab', 3);
    expect(new RecordChecker('lab').open(signed, 'record').network).toBe('lab');
    expect(() => new RecordChecker('prod').open(signed, 'answer')).toThrow(
      expect.objectContaining({
        name: 'FailedPreconditionError',
        message: 'answer is for network "lab", but this host is in network "prod"',
      }),
    );
  });

  it('takes a record this host signed without checking or decoding it', () => {
    const checker = new RecordChecker('lab');
    const own = signRecordKeeping(generateIdentity(), {
      network: 'lab',
      name: '',
      addresses: ['127.0.0.1:7000'],
      labels: {},
      seq: 9,
      issuedAtMs: 1_000,
      withdrawn: false,
    });
    checker.trustOwn(own.signed, own.record);
    // The very record object handed over: neither verified nor decoded again.
    expect(checker.open(own.signed, 'record')).toBe(own.record);
    expect(checker.open(own.signed, 'record').seq).toBe(9);
  });

  it('names the field of a record that does not decode', () => {
    const checker = new RecordChecker('lab');
    expect(() =>
      checker.open({ record: Buffer.from([0xff, 0xff]), signature: Buffer.alloc(64) }, 'updates[2].record'),
    ).toThrow(
      expect.objectContaining({
        name: 'InvalidArgumentError',
        message: expect.stringMatching(/^updates\[2\]\.record: /),
      }),
    );
  });
});
