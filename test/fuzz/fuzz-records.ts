/**
 * Signed peer records for the fuzz suites: a plan drawn by fast-check (who signs, which fields,
 * which seq, how the signature is made or spoiled) and a pool of identities that turns a plan into
 * bytes. The pool remembers each identity's highest seq and the records it signed, so a plan can
 * ask for the next seq, the same one, an older one, or a replay of an earlier record.
 */
import fc from 'fast-check';
import { Identity, identityFromSeed, signBytes } from '../../services/common/identity';
import { MAX_ADDRESSES, MAX_LABELS, MAX_RECORD_BYTES } from '../../services/common/limits';
import { PeerRecord, RECORD_SIGNATURE_DOMAIN, SignedRecord } from '../../services/common/records';
import { lengthDelimited } from './fuzz-harness';

export type SeqPlan = 'next' | 'same' | 'older' | number;
export type Signing =
  | 'valid'
  | 'other-key'
  | 'random'
  | 'empty'
  | 'flip-record'
  | 'flip-signature'
  | 'truncated-signature'
  | 'replay'
  | 'missing';

export interface RecordPlan {
  readonly who: number;
  /** Whose id the record names: its signer's, another pool member's, or not a peer id at all. */
  readonly claim: 'own' | 'other-id' | 'bad-id';
  readonly network: 'home' | 'second' | 'bad' | 'long' | 'empty';
  readonly name: 'none' | 'shared' | 'bad' | 'long';
  readonly nameIndex: number;
  readonly addresses: readonly string[];
  /** 'reachable' asks the pool for the signer's own listening address, when it has one. */
  readonly reachable: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly seq: SeqPlan;
  readonly issuedAtMs: number;
  readonly withdrawn: boolean;
  /** Unknown-field padding: none, to exactly the record bound, or one byte past it. */
  readonly padding: 'none' | 'to-limit' | 'past-limit' | 'huge';
  readonly signing: Signing;
  readonly at: number;
  readonly flip: number;
}

/** Names a few identities share, so claims collide. */
export const SHARED_NAMES = ['alpha', 'beta', 'gamma'];

const ADDRESSES = [
  '127.0.0.1:1',
  '127.0.0.1:65535',
  '127.3.4.5:7000',
  '127.200.1.1:9',
  '[::1]:7000',
  '[::ffff:127.0.0.1]:80',
  'peer.invalid:7000',
  'UPPER.invalid:1',
  'no-port',
  ':80',
  '127.0.0.1:0',
  '127.0.0.1:65536',
  '127.0.0.1:-1',
  '[zz::1]:7000',
  '[::1]7000',
  '1.2.3.4.5:80',
  '256.1.1.1:80',
  '-bad-.invalid:1',
  `${'a'.repeat(64)}.invalid:1`,
  `${'a.'.repeat(130)}b:1`,
  'tab\there:1',
  '',
];

const labelKey = fc.oneof(
  fc.stringMatching(/^[a-z0-9]([a-z0-9._/-]{0,8}[a-z0-9])?$/),
  fc.constantFrom('', ' ', '-x', 'x-', 'a b', 'k=v', 'ünï', 'a'.repeat(63), 'a'.repeat(64), 'x/y/z', '.', 'a,b'),
);
const labelValue = fc.oneof(
  fc.stringMatching(/^([a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?)?$/),
  fc.constantFrom('', '-', 'a b', 'v/w', 'é', 'a'.repeat(63), 'a'.repeat(64), '\n'),
);
const validLabels = fc.dictionary(
  fc.stringMatching(/^[a-z0-9]([a-z0-9._/-]{0,8}[a-z0-9])?$/),
  fc.stringMatching(/^([a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?)?$/),
  { maxKeys: 4 },
);
const labels = fc.oneof(
  { arbitrary: fc.constant({}), weight: 4 },
  { arbitrary: validLabels, weight: 4 },
  { arbitrary: fc.dictionary(labelKey, labelValue, { maxKeys: 6 }), weight: 1 },
  {
    // Right at the bound and one past it.
    arbitrary: fc
      .constantFrom(MAX_LABELS, MAX_LABELS + 1)
      .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, `v${i}`]))),
    weight: 1,
  },
);

const addresses = fc.oneof(
  { arbitrary: fc.array(fc.constantFrom(...ADDRESSES.slice(0, 8)), { minLength: 1, maxLength: 3 }), weight: 10 },
  { arbitrary: fc.array(fc.constantFrom(...ADDRESSES), { maxLength: 4 }), weight: 2 },
  {
    arbitrary: fc
      .constantFrom(0, MAX_ADDRESSES, MAX_ADDRESSES + 1, 64)
      .map((n) => Array.from({ length: n }, (_, i) => `127.0.0.1:${1_000 + i}`)),
    weight: 1,
  },
);

/**
 * Seqs at and around every bound: 0, 1, 2^32, the largest safe integer and past it. An identity
 * that registers the largest safe seq can never register again (there is no higher one), so a
 * suite that cannot wait for the floor to lapse leaves that one out (`topSeq: false`).
 */
function seqPlan(topSeq: boolean): fc.Arbitrary<SeqPlan> {
  const bounds: SeqPlan[] = [0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER + 1, 2 ** 60];
  return fc.oneof(
    { arbitrary: fc.constant<SeqPlan>('next'), weight: 12 },
    { arbitrary: fc.constantFrom<SeqPlan>('same', 'older'), weight: 4 },
    { arbitrary: fc.constantFrom<SeqPlan>(...bounds, ...(topSeq ? [Number.MAX_SAFE_INTEGER] : [])), weight: 2 },
  );
}

export function recordPlan(
  poolSize: number,
  options: { signing?: fc.Arbitrary<Signing>; topSeq?: boolean } = {},
): fc.Arbitrary<RecordPlan> {
  const seq = seqPlan(options.topSeq ?? true);
  return fc.record({
    who: fc.nat({ max: poolSize - 1 }),
    claim: fc.oneof(
      { arbitrary: fc.constant('own' as const), weight: 20 },
      { arbitrary: fc.constantFrom('other-id' as const, 'bad-id' as const), weight: 1 },
    ),
    network: fc.oneof(
      { arbitrary: fc.constant('home' as const), weight: 16 },
      { arbitrary: fc.constant('second' as const), weight: 3 },
      { arbitrary: fc.constantFrom('bad' as const, 'long' as const, 'empty' as const), weight: 1 },
    ),
    name: fc.oneof(
      { arbitrary: fc.constant('none' as const), weight: 8 },
      { arbitrary: fc.constant('shared' as const), weight: 8 },
      { arbitrary: fc.constantFrom('bad' as const, 'long' as const), weight: 1 },
    ),
    nameIndex: fc.nat({ max: SHARED_NAMES.length - 1 }),
    addresses,
    reachable: fc.boolean(),
    labels,
    seq,
    issuedAtMs: fc.oneof(
      { arbitrary: fc.constant(1_700_000_000_000), weight: 12 },
      { arbitrary: fc.constantFrom(0, Number.MAX_SAFE_INTEGER, -1, Number.MAX_SAFE_INTEGER + 2), weight: 1 },
    ),
    withdrawn: fc.oneof({ arbitrary: fc.constant(false), weight: 12 }, { arbitrary: fc.constant(true), weight: 1 }),
    padding: fc.oneof(
      { arbitrary: fc.constant('none' as const), weight: 20 },
      { arbitrary: fc.constantFrom('to-limit' as const, 'past-limit' as const, 'huge' as const), weight: 1 },
    ),
    signing:
      options.signing ??
      fc.oneof(
        { arbitrary: fc.constant<Signing>('valid'), weight: 24 },
        {
          arbitrary: fc.constantFrom<Signing>(
            'other-key',
            'random',
            'empty',
            'flip-record',
            'flip-signature',
            'truncated-signature',
            'replay',
            'missing',
          ),
          weight: 5,
        },
      ),
    at: fc.nat(),
    flip: fc.integer({ min: 1, max: 255 }),
  });
}

export interface PoolOptions {
  /** Seeds the identities, so a run signs the same bytes each time. */
  readonly seedByte: number;
  readonly size: number;
  /** The network records are meant for. */
  readonly home: string;
  /** A second valid network, so the store holds more than one. */
  readonly second: string;
  /** An identity's own listening address, for plans that ask for a reachable record. */
  readonly reachable?: (who: number) => string | undefined;
  /** The seq identities start above (a real host's own records carry the clock in ms). */
  readonly firstSeq?: number;
}

export class RecordPool {
  readonly identities: Identity[];
  /** Highest seq each identity has signed. */
  private readonly highest: number[];
  private readonly history: SignedRecord[][];

  constructor(private readonly options: PoolOptions) {
    this.identities = Array.from({ length: options.size }, (_, i) =>
      identityFromSeed(Buffer.alloc(32, (options.seedByte * 31 + i) % 256)),
    );
    this.highest = this.identities.map(() => options.firstSeq ?? 0);
    this.history = this.identities.map(() => []);
  }

  id(who: number): string {
    return this.identities[who % this.identities.length].peerId;
  }

  highestSeq(who: number): number {
    return this.highest[who];
  }

  /** The newest record `who` signed with valid fields, if any: what a replay sends. */
  latest(who: number): SignedRecord | undefined {
    return this.history[who].at(-1);
  }

  /** Signs a record of `who` with the given fields and the next seq: for set-up and honest peers. */
  sign(who: number, fields: Partial<PeerRecord> = {}): SignedRecord {
    const record: PeerRecord = {
      peerId: this.id(who),
      network: this.options.home,
      name: '',
      addresses: [this.options.reachable?.(who) ?? '127.0.0.1:1'],
      labels: {},
      seq: this.nextSeq(who),
      issuedAtMs: 1_700_000_000_000,
      withdrawn: false,
      ...fields,
    };
    const signed = this.signBytes(who, Buffer.from(PeerRecord.encode(record).finish()));
    this.history[who].push(signed);
    return signed;
  }

  /** The record a plan describes, or undefined for a request that carries none. */
  materialize(plan: RecordPlan): SignedRecord | undefined {
    if (plan.signing === 'missing') return undefined;
    if (plan.signing === 'replay') {
      const old = this.history[plan.who][plan.at % Math.max(1, this.history[plan.who].length)];
      if (old) return old;
    }
    const n = this.identities.length;
    const peerId =
      plan.claim === 'own'
        ? this.id(plan.who)
        : plan.claim === 'other-id'
          ? this.id(plan.who + 1 + (plan.at % (n - 1)))
          : ['', 'b', 'not-a-peer-id', this.id(plan.who).toUpperCase(), `${this.id(plan.who)}x`][plan.at % 5];
    const network = {
      home: this.options.home,
      second: this.options.second,
      bad: 'Bad_Network',
      long: 'n'.repeat(64),
      empty: '',
    }[plan.network];
    const name = {
      none: '',
      shared: SHARED_NAMES[plan.nameIndex],
      bad: '-name-',
      long: 'x'.repeat(64),
    }[plan.name];
    const reachable = plan.reachable ? this.options.reachable?.(plan.who) : undefined;
    const record: PeerRecord = {
      peerId,
      network,
      name,
      addresses: reachable ? [reachable, ...plan.addresses.slice(1)] : [...plan.addresses],
      labels: { ...plan.labels },
      seq: this.seqFor(plan.who, plan.seq, plan.at),
      issuedAtMs: plan.issuedAtMs,
      withdrawn: plan.withdrawn,
    };
    let bytes: Buffer;
    try {
      bytes = Buffer.from(PeerRecord.encode(record).finish());
    } catch {
      // A value the encoder will not write (a seq past 2^64, say): garbage in its place.
      bytes = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }
    bytes = this.pad(bytes, plan.padding);
    const signer = plan.signing === 'other-key' ? (plan.who + 1) % n : plan.who;
    let signed = this.signBytes(signer, bytes);
    switch (plan.signing) {
      case 'random':
        signed = {
          record: bytes,
          signature: Buffer.from(Array.from({ length: 64 }, (_, i) => (plan.at + i * 37) % 256)),
        };
        break;
      case 'empty':
        signed = { record: bytes, signature: Buffer.alloc(0) };
        break;
      case 'flip-record': {
        const changed = Buffer.from(bytes);
        if (changed.length > 0) changed[plan.at % changed.length] ^= plan.flip;
        signed = { record: changed, signature: signed.signature };
        break;
      }
      case 'flip-signature': {
        const changed = Buffer.from(signed.signature);
        changed[plan.at % changed.length] ^= plan.flip;
        signed = { record: bytes, signature: changed };
        break;
      }
      case 'truncated-signature':
        signed = { record: bytes, signature: Buffer.from(signed.signature).subarray(0, plan.at % 64) };
        break;
      default:
        break;
    }
    if (plan.signing === 'valid' && plan.claim === 'own' && plan.padding === 'none') {
      this.history[plan.who].push(signed);
    }
    return signed;
  }

  private seqFor(who: number, plan: SeqPlan, at: number): number {
    if (typeof plan === 'number') {
      if (Number.isSafeInteger(plan)) this.highest[who] = Math.max(this.highest[who], plan);
      return plan;
    }
    if (plan === 'next') return this.nextSeq(who);
    if (plan === 'same') return Math.max(1, this.highest[who]);
    return Math.max(1, this.highest[who] - 1 - (at % 3));
  }

  private nextSeq(who: number): number {
    // Past a seq at the top of the safe range there is no next one: start that identity again low.
    if (this.highest[who] >= Number.MAX_SAFE_INTEGER - 1) this.highest[who] = 0;
    return ++this.highest[who];
  }

  private pad(bytes: Buffer, padding: RecordPlan['padding']): Buffer {
    if (padding === 'none') return bytes;
    if (padding === 'huge') return Buffer.concat([bytes, lengthDelimited(1_000, Buffer.alloc(20_000, 0x61))]);
    // A field-1000 header takes 2 bytes and its length 2 more: pad to exactly the bound, or one past.
    const target = MAX_RECORD_BYTES + (padding === 'past-limit' ? 1 : 0);
    const room = target - bytes.length - 4;
    if (room < 128) return bytes;
    return Buffer.concat([bytes, lengthDelimited(1_000, Buffer.alloc(room, 0x61))]);
  }

  private signBytes(who: number, bytes: Buffer): SignedRecord {
    const identity = this.identities[who % this.identities.length];
    return {
      record: bytes,
      signature: signBytes(identity, Buffer.concat([RECORD_SIGNATURE_DOMAIN, bytes])),
    };
  }
}
