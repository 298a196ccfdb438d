/**
 * The core with the real record verifier injected (services/common/records.ts openRecord over
 * Ed25519): a record with a bad signature, another peer's signature, changed bytes or an older seq
 * never enters a view, whatever message carries it, and each is counted.
 */
import fc from 'fast-check';
import { generateIdentity, type Identity } from '../../services/common/identity';
import { openRecord, signRecord } from '../../services/common/records';
import { localConfig } from '../../services/membership/config';
import type { Message, RecordVerifier, SignedRecordBlob } from '../../services/membership/messages';
import { MembershipNode } from '../../services/membership/node';
import { createRng } from '../../services/membership/rng';

const verifyRecord: RecordVerifier = (blob) => {
  try {
    const r = openRecord({ record: Buffer.from(blob.record), signature: Buffer.from(blob.signature) });
    return { peerId: r.peerId, seq: r.seq, addresses: r.addresses, withdrawn: r.withdrawn };
  } catch {
    return undefined;
  }
};

const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`signed records: fast-check seed ${seed} (FC_SEED=${seed} replays)`);

function issue(identity: Identity, seq: number, host: string): SignedRecordBlob {
  return signRecord(identity, {
    network: 'test',
    name: '',
    addresses: [`${host}:7946`],
    labels: {},
    seq,
    issuedAtMs: 1_700_000_000_000,
    withdrawn: false,
  });
}

const me = generateIdentity();
const honest = Array.from({ length: 4 }, () => generateIdentity());
const honestRecords = honest.map((id, i) => issue(id, 1, `10.1.${i}.1`));

function carrier(kind: string, record: SignedRecordBlob, claimedFrom: string): Message {
  const header = { from: claimedFrom, fromAddress: '10.2.0.1:7946' };
  switch (kind) {
    case 'join':
      return { type: 'join', ...header, record };
    case 'neighbor':
      return { type: 'neighbor', ...header, record, highPriority: true };
    case 'introduce':
      return { type: 'introduce', ...header, record };
    case 'forward-join':
      return { type: 'forward-join', ...header, record, ttl: 0 };
    case 'shuffle':
      return {
        type: 'shuffle',
        ...header,
        origin: claimedFrom,
        originAddress: '10.2.0.1:7946',
        records: [record],
        ttl: 0,
      };
    case 'push-pull':
      return { type: 'push-pull', ...header, records: [record], reply: true };
    default:
      return {
        type: 'gossip',
        ...header,
        updates: [{ kind: 0, peer: claimedFrom, incarnation: 5, from: claimedFrom, record }],
      };
  }
}

function freshNode(): MembershipNode {
  const node = new MembershipNode(
    { rng: createRng(1), verifyRecord },
    { config: localConfig(), record: issue(me, 1, '10.0.0.1') },
  );
  node.start(0);
  node.join(0, honestRecords);
  return node;
}

const inViews = (node: MembershipNode) => new Set([...node.activeView(), ...node.passiveView()]);

describe('records verified with openRecord', () => {
  it('admits genuine records', () => {
    const node = freshNode();
    for (const id of honest) expect(inViews(node).has(id.peerId)).toBe(true);
    expect(node.stats.recordsRejectedBadSignature).toBe(0);
  });

  it('refuses a record whose bytes changed after signing, whatever carries it', () => {
    const kinds = ['join', 'neighbor', 'introduce', 'forward-join', 'shuffle', 'push-pull', 'gossip'];
    const mallory = generateIdentity();
    const genuine = issue(mallory, 1, '10.3.0.1');
    fc.assert(
      fc.property(
        fc.constantFrom(...kinds),
        fc.integer({ min: 0, max: genuine.record.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (kind, at, flip) => {
          const node = freshNode();
          const bytes = Buffer.from(genuine.record);
          bytes[at] ^= flip;
          const tampered = { record: bytes, signature: genuine.signature };
          const before = node.stats.recordsRejectedBadSignature;
          node.handle(1, carrier(kind, tampered, mallory.peerId));
          expect(inViews(node).has(mallory.peerId)).toBe(false);
          for (const id of inViews(node)) expect(id === mallory.peerId).toBe(false);
          expect(node.stats.recordsRejectedBadSignature).toBeGreaterThan(before);
        },
      ),
      { seed, numRuns: 60 },
    );
  });

  it('refuses a record signed by another key, and one claiming to be from someone else', () => {
    const node = freshNode();
    const mallory = generateIdentity();
    const victim = generateIdentity();
    const theirs = issue(victim, 1, '10.4.0.1');
    const resigned = { record: theirs.record, signature: issue(mallory, 1, '10.4.0.1').signature };
    node.handle(1, carrier('introduce', resigned, mallory.peerId));
    node.handle(1, carrier('join', issue(mallory, 1, '10.5.0.1'), victim.peerId));
    expect(inViews(node).has(victim.peerId)).toBe(false);
    expect(inViews(node).has(mallory.peerId)).toBe(false);
    expect(node.stats.recordsRejectedBadSignature).toBe(2);
  });

  it('keeps the newest record and counts an older one as stale', () => {
    const node = freshNode();
    const peer = honest[0];
    const newer = issue(peer, 3, '10.1.0.9');
    node.handle(1, carrier('introduce', newer, honest[1].peerId));
    node.handle(2, carrier('introduce', issue(peer, 2, '10.1.0.8'), honest[1].peerId));
    expect(node.recordOf(peer.peerId)).toBe(newer);
    expect(node.stats.recordsRejectedStale).toBe(1);
  });
});
