/**
 * An eclipse attempt: one source (many identities, all in one /24) that offers a victim only its
 * own peers, in every exchange the protocol has (shuffles, shuffle replies, push-pulls, neighbour
 * requests, introductions), round after round. The defence is the same diversity rule: the
 * attacker's /24 holds at most maxPeersPerAddressGroup places in each view, so the victim keeps
 * its honest peers. With k /24s the attacker holds at most k times that.
 *
 * Real lan-profile hosts on loopback, each honest one in a /24 of its own; the attacker speaks the
 * Host protocol directly.
 */
import type { SignedRecord } from '../../services/common/records';
import { ExchangeKind } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import { addressGroup } from '../../services/membership';
import { startTestHost, waitUntil } from '../support/hosts';
import { viewProblems } from '../fuzz/view-invariants';
import { attempt, AttackerLink, Sybils } from './attacker';

const HONEST = 5;
const ROUNDS = 40;

/** A host on the lan profile (its view rules, not the local profile's) bound to `bind`. */
function lanHost(bind: string, seeds: string[] = []): Promise<RunningHost> {
  return startTestHost({ host: bind, profile: 'lan', seeds });
}

describe('an eclipse attempt', () => {
  const hosts: RunningHost[] = [];
  let victim: RunningHost;
  let honest: RunningHost[];

  beforeAll(async () => {
    victim = await lanHost('127.0.0.1');
    honest = [];
    for (let k = 0; k < HONEST; k++) {
      honest.push(await lanHost(`127.50.${k + 1}.1`, [victim.address, ...honest.map((h) => h.address)]));
    }
    hosts.push(victim, ...honest);
    const known = () => new Set([...victim.node.activeView(), ...victim.node.passiveView()]);
    await waitUntil(() => honest.every((h) => known().has(h.peerId)), 20_000, 'the victim to know every honest host');
  });

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.stop()));
  });

  /** Attacker and honest peers in each of the victim's views. */
  function views(attacker: ReadonlySet<string>) {
    const split = (view: readonly string[]) => ({
      attacker: view.filter((p) => attacker.has(p)).length,
      honest: view.filter((p) => honest.some((h) => h.peerId === p)).length,
      size: view.length,
    });
    return { active: split(victim.node.activeView()), passive: split(victim.node.passiveView()) };
  }

  it.each([1, 3])('from %i /24(s), offering only its own peers: the victim keeps its honest peers', async (subnets) => {
    const { maxPeersPerAddressGroup: perGroup, activeViewSize, passiveViewSize } = victim.node.config;
    const count = 60 * subnets;
    const sybils = new Sybils(count, (i) => `127.${70 + subnets}.${i % subnets}.${1 + Math.floor(i / subnets)}:7000`);
    const ids = sybils.ids();
    const link = new AttackerLink(victim.address);
    const own = (i: number, n: number) => Array.from({ length: n }, (_, k) => sybils.current((i + k + 1) % count));
    let most = { active: 0, passive: 0 };
    let calls = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const i = (round * 7) % count;
        const records: SignedRecord[] = own(i, 8);
        const outcomes = await Promise.all([
          link.shuffle(sybils, i, records),
          attempt(link.client, link.client.exchangePeers, {
            sender: sybils.sender(i),
            kind: ExchangeKind.EXCHANGE_KIND_SHUFFLE_REPLY,
            records,
            incarnations: [],
            ttl: 0,
            neighbor: false,
          }),
          link.pushPull(sybils, (i + 1) % count, own(i + 1, 6), sybils.current((i + 1) % count)),
          link.neighbour(sybils, (i + 2) % count, sybils.current((i + 2) % count)),
          link.join(sybils, (i + 3) % count, sybils.current((i + 3) % count)),
          link.introduce(sybils, (i + 4) % count, sybils.current((i + 5) % count)),
        ]);
        calls += outcomes.length;
        const now = views(ids);
        most = {
          active: Math.max(most.active, now.active.attacker),
          passive: Math.max(most.passive, now.passive.attacker),
        };
        expect(viewProblems(victim.node, 'default')).toEqual([]);
      }
    } finally {
      link.close();
    }
    // A place the attack emptied is refilled from the passive view within a few probe periods;
    // judge the view once it is full again (it may not be: then the figures show it).
    await waitUntil(() => victim.node.activeView().length >= activeViewSize, 10_000, 'a full active view').catch(
      () => undefined,
    );
    const after = views(ids);
    const groups = new Set(
      [...victim.node.activeView(), ...victim.node.passiveView()]
        .filter((p) => ids.has(p))
        .map((p) => addressGroup(victim.member.open(victim.node.recordOf(p) as SignedRecord, 'record').addresses[0])),
    );
    const honestKnown = after.active.honest + after.passive.honest;
    console.info(
      `Eclipse: ${count} identities in ${subnets} /24(s), ${calls} exchanges offering only their own records -> ` +
        `victim's active view ${after.active.size}/${activeViewSize} = ${after.active.honest} honest + ${after.active.attacker} attacker ` +
        `(at most ${most.active}), passive ${after.passive.size}/${passiveViewSize} = ${after.passive.honest} honest + ` +
        `${after.passive.attacker} attacker (at most ${most.passive}); attacker groups in views ${groups.size}; ` +
        `honest peers still known ${honestKnown}/${HONEST}`,
    );
    expect(most.active).toBeLessThanOrEqual(subnets * perGroup);
    expect(most.passive).toBeLessThanOrEqual(subnets * perGroup);
    expect(honestKnown).toBe(HONEST);
    expect(after.active.honest).toBeGreaterThanOrEqual(Math.min(HONEST, activeViewSize) - subnets * perGroup);
  });
});
