/**
 * A full host refusing neighbour requests over real gRPC: the second refusal offers the first
 * asker's record (the same signed bytes), so two peers short of neighbours can find each other.
 */
import { generateIdentity } from '../../services/common/identity';
import { PeerRecord, signRecord } from '../../services/common/records';
import { HandshakeIntent, HostServiceClient } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import { localConfig } from '../../services/membership';
import { call, hostClient, startTestHost, waitUntil } from '../support/hosts';
import { recordFields } from '../support/records';

describe('a full host refers askers short of neighbours to each other', () => {
  let hub: RunningHost;
  let neighbours: RunningHost[];
  let client: HostServiceClient;

  beforeAll(async () => {
    hub = await startTestHost({}, undefined, { membership: localConfig({ activeViewSize: 2, passiveViewSize: 8 }) });
    neighbours = await Promise.all([0, 1].map(() => startTestHost({ seeds: [hub.address] })));
    await waitUntil(() => hub.node.activeView().length === 2, 10_000, 'the hub to fill its two places');
    client = hostClient(hub.address);
  });

  afterAll(async () => {
    client.close();
    await Promise.all([hub, ...neighbours].map((h) => h.stop()));
  });

  /** A peer that asks for a place in the hub's active view (a plain request, not urgent). */
  function asker() {
    const identity = generateIdentity();
    const address = '127.0.0.1:1';
    const record = signRecord(identity, recordFields({ addresses: [address], seq: Date.now() }));
    const ask = () =>
      call(client, client.handshake, {
        sender: { peerId: identity.peerId, address },
        record,
        intent: HandshakeIntent.HANDSHAKE_INTENT_NEIGHBOR,
      });
    return { identity, record, ask };
  }

  it('refuses the first with no offer, and offers it to the second', async () => {
    const first = asker();
    const second = asker();
    const firstAnswer = await first.ask();
    expect(firstAnswer.accepted).toBe(false);
    expect(firstAnswer.referral).toBeUndefined();

    const secondAnswer = await second.ask();
    expect(secondAnswer.accepted).toBe(false);
    expect(secondAnswer.referral).toBeDefined();
    expect(PeerRecord.decode(secondAnswer.referral!.record).peerId).toBe(first.identity.peerId);
    expect(Buffer.from(secondAnswer.referral!.record)).toEqual(Buffer.from(first.record.record));
    expect(Buffer.from(secondAnswer.referral!.signature)).toEqual(Buffer.from(first.record.signature));
    // Its places are still the neighbours': a referral evicts nobody.
    expect(hub.node.activeView().sort()).toEqual(neighbours.map((n) => n.peerId).sort());
  });

  it('offers each refused asker once', async () => {
    const third = asker();
    const fourth = asker();
    const thirdAnswer = await third.ask();
    // The second asker was offered away already; the third is the one kept for the next.
    expect(thirdAnswer.referral).toBeUndefined();
    const fourthAnswer = await fourth.ask();
    expect(PeerRecord.decode(fourthAnswer.referral!.record).peerId).toBe(third.identity.peerId);
  });
});
