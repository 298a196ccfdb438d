/** Records for tests, including ones the real signer would refuse to make. */
import { Identity, generateIdentity, signBytes } from '../../services/common/identity';
import {
  PeerRecord,
  RECORD_SIGNATURE_DOMAIN,
  RecordFields,
  SignedRecord,
  signRecord,
} from '../../services/common/records';

export function recordFields(overrides: Partial<RecordFields> = {}): RecordFields {
  return {
    network: 'default',
    name: '',
    addresses: ['127.0.0.1:7000'],
    labels: {},
    seq: 1,
    issuedAtMs: 1_700_000_000_000,
    withdrawn: false,
    ...overrides,
  };
}

export function signed(identity: Identity, overrides: Partial<RecordFields> = {}): SignedRecord {
  return signRecord(identity, recordFields(overrides));
}

/** Signs any record, valid or not, as a hostile or buggy peer could. */
export function signUnchecked(identity: Identity, record: PeerRecord): SignedRecord {
  const bytes = Buffer.from(PeerRecord.encode(record).finish());
  return { record: bytes, signature: signBytes(identity, Buffer.concat([RECORD_SIGNATURE_DOMAIN, bytes])) };
}

export { generateIdentity };
