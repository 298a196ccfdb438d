/**
 * A Sybil flood against a host's views: hundreds of fresh identities, each with a valid record,
 * joining, shuffling, push-pulling and introducing each other. The defence is the view diversity
 * rule (maxPeersPerAddressGroup, 2 on the lan profile): a view holds at most that many peers of one
 * /24. From one /24 the flood gets 2 peers into each view and no honest neighbour is lost; from
 * hundreds of /24s only the view sizes bound it, which is what the rule is for. Identities admitted
 * under scattered addresses cannot then move into one /24 with newer records: a peer whose new
 * address falls in a full group leaves the view.
 *
 * Real hosts on loopback (127.0.0.0/8 is all loopback, so every /24 is dialable without set-up),
 * on the lan profile; the attacker speaks the Host protocol directly.
 */
import type { SignedRecord } from '../../services/common/records';
import type { RunningHost } from '../../services/host/server';
import { addressGroup } from '../../services/membership';
import { startTestHost, waitUntil } from '../support/hosts';
import { viewProblems } from '../fuzz/view-invariants';
import { AttackerLink, countCodes, formatCounts, Sybils } from './attacker';

const SYBILS = 200;
const HONEST = 3;
const BATCH = 25;

async function inBatches<T>(count: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += BATCH) {
    const size = Math.min(BATCH, count - start);
    out.push(...(await Promise.all(Array.from({ length: size }, (_, k) => run(start + k)))));
  }
  return out;
}

/** A host on the lan profile (its view rules, not the local profile's) bound to `bind`. */
function lanHost(bind: string, seeds: string[] = []): Promise<RunningHost> {
  return startTestHost({ host: bind, profile: 'lan', seeds });
}

/** How many of `ids` sit in each view, and the most of them in one address group. */
function census(host: RunningHost, ids: ReadonlySet<string>) {
  const count = (view: readonly string[]) => {
    const groups = new Map<string, number>();
    for (const peer of view.filter((p) => ids.has(p))) {
      const group = addressGroup(addressOf(host, peer));
      groups.set(group, (groups.get(group) ?? 0) + 1);
    }
    return {
      peers: [...groups.values()].reduce((a, b) => a + b, 0),
      groups: groups.size,
      perGroup: Math.max(0, ...groups.values()),
    };
  };
  return { active: count(host.node.activeView()), passive: count(host.node.passiveView()) };
}

function addressOf(host: RunningHost, peer: string): string {
  const blob = host.node.recordOf(peer);
  return blob ? (host.member.open(blob as SignedRecord, 'record').addresses[0] ?? '') : '';
}

interface Max {
  active: number;
  passive: number;
  activePerGroup: number;
  passivePerGroup: number;
}

/** Runs the whole flood from `sybils` against the victim, sampling the views after each batch. */
async function flood(victim: RunningHost, sybils: Sybils): Promise<{ max: Max; codes: Map<string, number> }> {
  const link = new AttackerLink(victim.address);
  const ids = sybils.ids();
  const max: Max = { active: 0, passive: 0, activePerGroup: 0, passivePerGroup: 0 };
  const sample = () => {
    const c = census(victim, ids);
    max.active = Math.max(max.active, c.active.peers);
    max.passive = Math.max(max.passive, c.passive.peers);
    max.activePerGroup = Math.max(max.activePerGroup, c.active.perGroup);
    max.passivePerGroup = Math.max(max.passivePerGroup, c.passive.perGroup);
    expect(viewProblems(victim.node, 'default')).toEqual([]);
  };
  const outcomes = [];
  try {
    // Every identity asks to join, then to become a neighbour.
    outcomes.push(...(await inBatches(sybils.size, (i) => link.join(sybils, i))));
    sample();
    outcomes.push(...(await inBatches(sybils.size, (i) => link.neighbour(sybils, i))));
    sample();
    // Shuffles, push-pulls and introductions, each carrying only the attacker's own records.
    const some = (i: number, n: number) =>
      Array.from({ length: n }, (_, k) => sybils.record((i + k + 1) % sybils.size));
    outcomes.push(...(await inBatches(50, (i) => link.shuffle(sybils, i, some(i, 20)))));
    sample();
    outcomes.push(...(await inBatches(50, (i) => link.pushPull(sybils, i, some(i, 10)))));
    sample();
    outcomes.push(
      ...(await inBatches(sybils.size, (i) => link.introduce(sybils, i, sybils.record((i + 1) % sybils.size)))),
    );
    sample();
  } finally {
    link.close();
  }
  return { max, codes: countCodes(outcomes) };
}

describe('a Sybil flood against a host', () => {
  const hosts: RunningHost[] = [];

  /** A lan-profile victim with HONEST honest neighbours, each in a /24 of its own. */
  async function victimWithNeighbours(): Promise<{ victim: RunningHost; honest: RunningHost[] }> {
    const victim = await lanHost('127.0.0.1');
    const honest = await Promise.all(
      Array.from({ length: HONEST }, (_, k) => lanHost(`127.20.${hosts.length + k + 1}.1`, [victim.address])),
    );
    hosts.push(victim, ...honest);
    await waitUntil(
      () => honest.every((h) => victim.node.activeView().includes(h.peerId)),
      15_000,
      'the honest hosts to become neighbours',
    );
    return { victim, honest };
  }

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.stop()));
  });

  it('from one /24: 2 peers in each view, every honest neighbour kept', async () => {
    const { victim, honest } = await victimWithNeighbours();
    const { maxPeersPerAddressGroup, activeViewSize, passiveViewSize } = victim.node.config;
    const sybils = new Sybils(SYBILS, (i) => `127.66.0.${1 + (i % 250)}:${20_000 + i}`);
    const { max, codes } = await flood(victim, sybils);
    const known = new Set([...victim.node.activeView(), ...victim.node.passiveView()]);
    const honestKept = honest.filter((h) => known.has(h.peerId)).length;
    console.info(
      `Sybil vs host views: ${SYBILS} fresh identities in 127.66.0.0/24 -> at most ${max.active} in the active view ` +
        `(of ${activeViewSize}) and ${max.passive} in the passive view (of ${passiveViewSize}); ` +
        `maxPeersPerAddressGroup ${maxPeersPerAddressGroup}; honest peers kept ${honestKept}/${HONEST}; calls: ${formatCounts(codes)}`,
    );
    expect(max.active).toBeLessThanOrEqual(maxPeersPerAddressGroup);
    expect(max.passive).toBeLessThanOrEqual(maxPeersPerAddressGroup);
    expect(honestKept).toBe(HONEST);
  });

  it('from a /24 each: only the view sizes bound it; moving them all into one /24 afterwards fails', async () => {
    const { victim } = await victimWithNeighbours();
    const { maxPeersPerAddressGroup, activeViewSize, passiveViewSize } = victim.node.config;
    const sybils = new Sybils(SYBILS, (i) => `127.67.${i}.1:${20_000 + i}`);
    const { max } = await flood(victim, sybils);
    console.info(
      `Sybil vs host views: ${SYBILS} fresh identities over ${SYBILS} /24s -> at most ${max.active} in the active view ` +
        `(of ${activeViewSize}) and ${max.passive} in the passive view (of ${passiveViewSize}), ${max.passivePerGroup} per /24`,
    );
    // The contrast with one /24: here the diversity rule does not bind, the view sizes do.
    expect(max.passive).toBeGreaterThan(maxPeersPerAddressGroup);
    expect(max.active).toBeLessThanOrEqual(activeViewSize);
    expect(max.passive).toBeLessThanOrEqual(passiveViewSize);

    // Now every identity in the views signs a newer record at an address in one /24.
    const ids = sybils.ids();
    const admitted = [...victim.node.activeView(), ...victim.node.passiveView()].filter((p) => ids.has(p));
    const indexOf = new Map(sybils.identities.map((identity, i) => [identity.peerId, i]));
    const link = new AttackerLink(victim.address);
    try {
      const moved = admitted.map((peer, k) => sybils.record(indexOf.get(peer)!, `127.68.0.${1 + k}:30000`));
      // Relayed the ways records travel: introductions, and as one identity's neighbours in push-pulls.
      await inBatches(moved.length, (k) => link.introduce(sybils, indexOf.get(admitted[k])!, moved[k]));
      await link.pushPull(sybils, indexOf.get(admitted[0])!, moved.slice(1));
    } finally {
      link.close();
    }
    const after = census(victim, ids);
    const inMovedGroup = [...victim.node.activeView(), ...victim.node.passiveView()].filter(
      (p) => ids.has(p) && addressGroup(addressOf(victim, p)) === 'v4:127.68.0',
    );
    const activeMoved = victim.node.activeView().filter((p) => inMovedGroup.includes(p)).length;
    const passiveMoved = inMovedGroup.length - activeMoved;
    console.info(
      `Sybil re-address: ${admitted.length} admitted identities move into 127.68.0.0/24 -> ${activeMoved} stay in the active view, ` +
        `${passiveMoved} in the passive view (maxPeersPerAddressGroup ${maxPeersPerAddressGroup}); ` +
        `attacker peers left in views: ${after.active.peers} active, ${after.passive.peers} passive`,
    );
    expect(activeMoved).toBeLessThanOrEqual(maxPeersPerAddressGroup);
    expect(passiveMoved).toBeLessThanOrEqual(maxPeersPerAddressGroup);
    expect(viewProblems(victim.node, 'default')).toEqual([]);
  });
});
