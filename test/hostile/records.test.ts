/**
 * Hostile records against the real directory (on Redis), a real host and a real introducer:
 *
 * - replay of a record with an old seq: FAILED_PRECONDITION everywhere; a relayed stale record is
 *   dropped and counted, the newer one stays;
 * - a record for another id (another key's signature over it, or a sender presenting someone
 *   else's genuine record): PERMISSION_DENIED everywhere;
 * - a relayed record with one changed byte, at every byte: never accepted (PERMISSION_DENIED, or
 *   INVALID_ARGUMENT where the change breaks a field before the signature is checked), never in a
 *   view, and the directory keeps the genuine record.
 *
 * Each refusal leaves the directory's Redis exactly as it was.
 */
import { IntroducerClient } from '../../services/client/introducer-client';
import { generateIdentity, type Identity } from '../../services/common/identity';
import { signRecord, type SignedRecord } from '../../services/common/records';
import { ExchangeKind, HandshakeIntent } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import type { RunningIntroducer } from '../../services/introducer/server';
import { codeOf, startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import { startTestIntroducer, TEST_INTRODUCER_TOKEN } from '../support/introducers';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import {
  fingerprint,
  openInvariantClient,
  readStore,
  storeProblems,
  type InvariantClient,
} from '../support/store-invariants';
import { attempt, AttackerLink, countCodes, formatCounts, Sybils } from './attacker';

/**
 * Directory-only records go to a network of their own: the introducer keeps 'default' true and
 * would evict peers registered there that nobody runs, changing the store under the checks.
 */
const PLAIN = 'plain';

function record(identity: Identity, seq: number, address: string, withdrawn = false, network = PLAIN): SignedRecord {
  return signRecord(identity, {
    network,
    name: '',
    addresses: [address],
    labels: { role: 'web' },
    seq,
    issuedAtMs: 1_700_000_000_000 + seq,
    withdrawn,
  });
}

describe('hostile records', () => {
  let redis: RedisServer;
  let dir: TestDirectory;
  let introducer: RunningIntroducer;
  let joiner: IntroducerClient;
  let victim: RunningHost;
  let admin: InvariantClient;
  const hosts: RunningHost[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    dir = await startTestDirectory({ redisUrl: redis.url, introducerToken: TEST_INTRODUCER_TOKEN });
    introducer = await startTestIntroducer(dir.address);
    joiner = new IntroducerClient(introducer.address);
    // Per-peer call limits have tests of their own (test/hostile/flood-ttl.test.ts); here every
    // tampered record must reach the record checks, however fast the machine sends them.
    victim = await startTestHost({ peerCallsPerSecond: 1_000_000 });
    hosts.push(victim);
    admin = openInvariantClient(redis.url);
    await waitUntil(
      async () => (await codeOf(dir.client.resolve('default', { peerId: introducer.peerId }))) === 'OK',
      10_000,
      'the introducer to register',
    );
  });

  afterAll(async () => {
    joiner.close();
    admin.close();
    await introducer.stop();
    await Promise.all(hosts.map((host) => host.stop()));
    await dir.stop();
    await redis.stop();
  });

  /** Runs refused calls and checks that the directory's Redis did not change at all. */
  async function unchanged<T>(run: () => Promise<T>): Promise<T> {
    // The introducer renews leases now and then: compare without the deadlines.
    const before = await readStore(admin);
    const result = await run();
    const after = await readStore(admin);
    expect(storeProblems(after)).toEqual([]);
    expect(fingerprint(after, { ignoreDeadlines: true })).toBe(fingerprint(before, { ignoreDeadlines: true }));
    return result;
  }

  it('refuses a replayed record with an old seq: FAILED_PRECONDITION in the directory, hosts and the introducer', async () => {
    // The directory: seq 5 is held, seqs 1-4 are replays; after a withdrawal, seq 5 is below the floor.
    const peer = generateIdentity();
    const old = [1, 2, 3, 4].map((seq) => record(peer, seq, '127.0.0.1:7001'));
    await dir.client.register(record(peer, 5, '127.0.0.1:7001'));
    const directoryCodes = await unchanged(async () => [
      ...(await Promise.all(old.map((r) => codeOf(dir.client.register(r))))),
      ...(await Promise.all(old.map((r) => codeOf(dir.client.updateRecord(r))))),
      await codeOf(dir.client.register(record(peer, 5, '127.0.0.2:7001'))),
    ]);
    await dir.client.deregister(record(peer, 6, '127.0.0.1:7001', true));
    const afterWithdrawal = await unchanged(async () =>
      Promise.all([5, 6].map((seq) => codeOf(dir.client.register(record(peer, seq, '127.0.0.1:7001'))))),
    );
    expect(await codeOf(dir.client.register(record(peer, 7, '127.0.0.1:7001')))).toBe('OK');

    // A host: it holds seq 5 of the attacker's identity; older ones are refused, or dropped when relayed.
    const sybil = new Sybils(2, (i) => `127.31.${i}.1:7000`);
    const link = new AttackerLink(victim.address);
    const records = [1, 2, 3, 4, 5].map(() => sybil.record(0));
    expect((await link.join(sybil, 0, records[4])).code).toBe('OK');
    const staleBefore = victim.node.stats.recordsRejectedStale;
    const hostCodes = [
      await link.join(sybil, 0, records[2]),
      await link.neighbour(sybil, 0, records[1]),
      await link.pushPull(sybil, 0, [], records[3]),
    ];
    const relayed = await link.introduce(sybil, 1, records[0]);
    link.close();
    const held = victim.member.open(victim.node.recordOf(sybil.id(0)) as SignedRecord, 'record');

    // The introducer: a real host joins with its record, then its older record is replayed.
    const identity = generateIdentity();
    const host = await startTestHost({}, identity);
    hosts.push(host);
    const older = record(identity, 1, host.address, false, 'default');
    expect((await joiner.join(host.member.record())).leaseId).not.toBe('');
    const joinCode = await unchanged(() => codeOf(joiner.join(older)));

    console.info(
      `replay: directory ${formatCounts(countCodes(directoryCodes.map((code) => ({ code }))))} for 9 replays of seqs 1-5 ` +
        `over held seq 5, ${formatCounts(countCodes(afterWithdrawal.map((code) => ({ code }))))} for seqs 5-6 under the ` +
        `seq-6 floor; host ${formatCounts(countCodes(hostCodes))} for 3 replays over held seq 5, and a relayed seq 1 ` +
        `dropped (stale records counted ${victim.node.stats.recordsRejectedStale - staleBefore}, view keeps seq ${held.seq}); ` +
        `introducer ${joinCode} for a join replaying seq 1; Redis unchanged by every refusal`,
    );
    expect(directoryCodes).toEqual(Array(9).fill('FAILED_PRECONDITION'));
    expect(afterWithdrawal).toEqual(['FAILED_PRECONDITION', 'FAILED_PRECONDITION']);
    expect(hostCodes.map((o) => o.code)).toEqual(['FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'FAILED_PRECONDITION']);
    expect(relayed.code).toBe('OK');
    expect(victim.node.stats.recordsRejectedStale).toBeGreaterThan(staleBefore);
    expect(held.seq).toBe(5);
    expect(joinCode).toBe('FAILED_PRECONDITION');
  });

  it('refuses a record for another id: PERMISSION_DENIED in the directory, hosts and the introducer', async () => {
    const mallory = generateIdentity();
    const target = generateIdentity();
    // The target's record bytes with mallory's signature (for the directory, and for hosts and
    // the introducer in their network), and the target's genuine record in mallory's hands.
    const forge = (network: string) => {
      const theirs = record(target, 1, '127.0.0.1:7002', false, network);
      const signature = record(mallory, 1, '127.0.0.1:7002', false, network).signature;
      return { theirs, resigned: { record: theirs.record, signature } as SignedRecord };
    };
    const plain = forge(PLAIN);
    const { theirs, resigned } = forge('default');
    const link = new AttackerLink(victim.address);
    const client = link.client;
    const outcomes = await unchanged(async () => [
      { code: await codeOf(dir.client.register(plain.resigned)) },
      { code: await codeOf(dir.client.updateRecord(plain.resigned)) },
      // A sender presenting someone else's genuine record, and one presenting a forged one as its own.
      await attempt(client, client.handshake, {
        sender: { peerId: mallory.peerId, address: '127.0.0.1:7003' },
        record: theirs,
        intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN,
      }),
      await attempt(client, client.handshake, {
        sender: { peerId: target.peerId, address: '127.0.0.1:7002' },
        record: resigned,
        intent: HandshakeIntent.HANDSHAKE_INTENT_JOIN,
      }),
      await attempt(client, client.exchangePeers, {
        sender: { peerId: mallory.peerId, address: '127.0.0.1:7003' },
        kind: ExchangeKind.EXCHANGE_KIND_PUSH_PULL,
        records: [theirs],
        incarnations: [],
        ttl: 0,
        neighbor: false,
      }),
      { code: await codeOf(joiner.join(resigned)) },
    ]);
    link.close();
    const views = [...victim.node.activeView(), ...victim.node.passiveView()];
    console.info(
      `another id: ${outcomes.length} attempts (directory Register and UpdateRecord, host Handshake x2 and push-pull, ` +
        `introducer Join) -> ${formatCounts(countCodes(outcomes))}; target in the victim's views: ${views.includes(target.peerId)}`,
    );
    expect(outcomes.map((o) => o.code)).toEqual(Array(outcomes.length).fill('PERMISSION_DENIED'));
    expect(views).not.toContain(target.peerId);
    expect(views).not.toContain(mallory.peerId);
  });

  it('refuses a relayed record with any one byte changed: never accepted, never in a view', async () => {
    const peer = generateIdentity();
    // Seq 1 is registered; seq 2, relayed with a byte changed, must never replace it.
    const genuine = record(peer, 2, '127.0.0.1:7004');
    const registered = await dir.client.register(record(peer, 1, '127.0.0.1:7004'));
    // The same for a host, in its network.
    const forHost = record(peer, 2, '127.0.0.1:7004', false, 'default');
    const relay = new Sybils(1, () => '127.32.0.1:7000');
    const link = new AttackerLink(victim.address);
    const badSignatureBefore = victim.node.stats.recordsRejectedBadSignature;
    const directoryOutcomes: { code: string }[] = [];
    const hostOutcomes: { code: string }[] = [];
    await unchanged(async () => {
      for (let at = 0; at < genuine.record.length + genuine.signature.length; at++) {
        for (const flip of [0x01, 0x80]) {
          const [toDirectory, toHost] = [genuine, forHost].map((signed) => {
            const tampered = { record: Buffer.from(signed.record), signature: Buffer.from(signed.signature) };
            if (at < tampered.record.length) tampered.record[at] ^= flip;
            else tampered.signature[(at - tampered.record.length) % tampered.signature.length] ^= flip;
            return tampered;
          });
          directoryOutcomes.push({ code: await codeOf(dir.client.updateRecord(toDirectory)) });
          hostOutcomes.push(await link.introduce(relay, 0, toHost));
          hostOutcomes.push(await link.shuffle(relay, 0, [toHost]));
        }
      }
    });
    link.close();
    const held = await dir.client.resolve(PLAIN, { peerId: peer.peerId });
    const views = [...victim.node.activeView(), ...victim.node.passiveView()];
    const positions = genuine.record.length + genuine.signature.length;
    console.info(
      `changed byte: ${positions} positions x 2 flips, relayed to the directory (UpdateRecord) -> ` +
        `${formatCounts(countCodes(directoryOutcomes))}; to a host (introduction and shuffle) -> ` +
        `${formatCounts(countCodes(hostOutcomes))}; in the host's views: ${views.includes(peer.peerId) ? 1 : 0}; ` +
        `directory still holds seq ${held.record.seq} at revision ${held.revision}`,
    );
    for (const outcome of [...directoryOutcomes, ...hostOutcomes]) {
      expect(['PERMISSION_DENIED', 'INVALID_ARGUMENT']).toContain(outcome.code);
    }
    expect(countCodes(directoryOutcomes).get('PERMISSION_DENIED')).toBeGreaterThan(positions);
    expect(views).not.toContain(peer.peerId);
    expect(held.record.seq).toBe(1);
    expect(held.revision).toBe(registered.revision);
    // Refused at the edge: nothing reached the core's verifier as a bad record.
    expect(victim.node.stats.recordsRejectedBadSignature).toBe(badSignatureBefore);
  });
});
