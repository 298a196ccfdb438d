import { localConfig, type ConfigOverrides } from './config';
import { UpdateKind, type Message, type Outgoing, type SignedRecordBlob, type Update } from './messages';
import { MembershipNode, type Effects, type MembershipEvent } from './node';
import { createRng } from './rng';
import { forgedSimRecord, simRecord, verifySimRecord, type SimRecordBlob } from './sim/sim-records';

/**
 * A tiny deterministic network on a virtual clock: every message takes 1 ms, a node that is down
 * receives nothing, and `drop` can lose chosen messages. Enough to drive each mechanism by hand.
 */
class Net {
  now = 0;
  readonly nodes = new Map<string, MembershipNode>();
  readonly records = new Map<string, SimRecordBlob>();
  readonly down = new Set<string>();
  /** Paused nodes (a stopped process): their messages wait, and they run nothing until resumed. */
  readonly paused = new Map<string, Message[]>();
  /** Nodes whose timers always run this many ms late (a busy event loop). */
  readonly late = new Map<string, number>();
  readonly events: Array<{ at: number; node: string; event: MembershipEvent }> = [];
  readonly sent: Array<{ at: number; from: string } & Outgoing> = [];
  private queue: Array<{ at: number; to: string; message: Message }> = [];
  drop: (o: Outgoing & { from: string }) => boolean = () => false;
  /** Strips chosen piggybacked updates from messages, leaving the rest of each message. */
  hide: (to: string, u: Update) => boolean = () => false;

  constructor(private readonly overrides: ConfigOverrides = {}) {}

  add(id: string, address = `10.0.${this.nodes.size}.1:7946`, overrides: ConfigOverrides = {}): MembershipNode {
    const record = simRecord(id, 1, [address]);
    const node = new MembershipNode(
      { rng: createRng(this.nodes.size + 1), verifyRecord: verifySimRecord },
      { config: localConfig({ ...this.overrides, ...overrides }), record },
    );
    this.nodes.set(id, node);
    this.records.set(id, record);
    this.apply(id, node.start(this.now));
    return node;
  }

  /** Joins `id` through an introduction by `via`. */
  join(id: string, via: string): void {
    const member = this.nodes.get(via) as MembershipNode;
    const intro = member.introduce(this.now, this.records.get(id) as SignedRecordBlob);
    this.apply(via, intro.effects);
    this.apply(id, (this.nodes.get(id) as MembershipNode).join(this.now, intro.sample));
  }

  apply(from: string, effects: Effects): void {
    for (const e of effects.events) this.events.push({ at: this.now, node: from, event: e });
    for (const m of effects.messages) {
      this.sent.push({ at: this.now, from, ...m });
      if (this.drop({ from, ...m })) continue;
      let message = m.message;
      if ('updates' in message && message.updates.some((u) => this.hide(m.to, u))) {
        message = { ...message, updates: message.updates.filter((u) => !this.hide(m.to, u)) };
      }
      this.queue.push({ at: this.now + 1, to: m.to, message });
    }
  }

  deliver(to: string, message: Message): void {
    const node = this.nodes.get(to);
    const held = this.paused.get(to);
    if (held) held.push(message);
    else if (node && !this.down.has(to)) this.apply(to, node.handle(this.now, message));
  }

  pause(id: string): void {
    this.paused.set(id, []);
  }

  /** As an event loop after a stall: the overdue timers run first, then the waiting messages. */
  resume(id: string): void {
    const held = this.paused.get(id) ?? [];
    this.paused.delete(id);
    this.apply(id, (this.nodes.get(id) as MembershipNode).tick(this.now));
    for (const message of held) this.deliver(id, message);
  }

  private wakeOf(id: string, n: MembershipNode): number {
    return this.down.has(id) || this.paused.has(id) ? Infinity : n.nextWakeAt() + (this.late.get(id) ?? 0);
  }

  run(forMs: number): void {
    const end = this.now + forMs;
    for (;;) {
      let next = Infinity;
      for (const q of this.queue) next = Math.min(next, q.at);
      for (const [id, n] of this.nodes) next = Math.min(next, this.wakeOf(id, n));
      if (next > end) break;
      this.now = next;
      const due = this.queue.filter((q) => q.at <= next);
      this.queue = this.queue.filter((q) => q.at > next);
      for (const q of due) this.deliver(q.to, q.message);
      for (const [id, n] of this.nodes) {
        if (this.wakeOf(id, n) <= this.now) this.apply(id, n.tick(this.now));
      }
    }
    this.now = end;
  }

  eventsOf(type: MembershipEvent['type'], node?: string) {
    return this.events.filter((e) => e.event.type === type && (node === undefined || e.node === node));
  }
}

function cluster(n: number, overrides: ConfigOverrides = {}): Net {
  const net = new Net(overrides);
  for (let i = 0; i < n; i++) {
    net.add(`p${i}`);
    if (i > 0) net.join(`p${i}`, `p${i - 1}`);
    net.run(50);
  }
  net.run(5_000);
  return net;
}

const node = (net: Net, id: string) => net.nodes.get(id) as MembershipNode;

/** A few peers with active views of 2, added in `ids` order, joined along `links` ([newcomer, contact]). */
function smallNet(ids: readonly string[], links: readonly [string, string][]): Net {
  const net = new Net({ activeViewSize: 2, passiveViewSize: 8 });
  for (const id of ids) net.add(id);
  for (const [newcomer, contact] of links) net.join(newcomer, contact);
  net.run(100);
  return net;
}

describe('joining (HyParView)', () => {
  it('links a newcomer to its contact in both active views', () => {
    const net = new Net();
    net.add('a');
    net.add('b');
    net.join('b', 'a');
    net.run(100);
    expect(node(net, 'a').activeView()).toEqual(['b']);
    expect(node(net, 'b').activeView()).toEqual(['a']);
    expect(
      net
        .eventsOf('neighbor-up')
        .map((e) => e.node)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('keeps links symmetric and views within bounds as a cluster grows', () => {
    const net = cluster(12);
    for (const [id, n] of net.nodes) {
      expect(n.activeCount).toBeGreaterThan(0);
      expect(n.activeCount).toBeLessThanOrEqual(n.config.activeViewSize);
      expect(n.passiveCount).toBeLessThanOrEqual(n.config.passiveViewSize);
      for (const peer of n.activeView()) expect(node(net, peer).activeView()).toContain(id);
    }
  });
});

describe('filling the last places (refusal referrals)', () => {
  it('a full peer refusing two askers short of neighbours brings them together, without evicting', () => {
    // A hub whose active view is full, and two pairs, each peer with one place free.
    const net = smallNet(
      ['hub', 'x', 'y', 'd', 'd2', 'e', 'e2'],
      [
        ['x', 'hub'],
        ['y', 'hub'],
        ['d', 'd2'],
        ['e', 'e2'],
      ],
    );
    expect(node(net, 'hub').activeView().sort()).toEqual(['x', 'y']);
    // d and e learn of the hub only: it is the one peer they can ask.
    const hubRecord = net.records.get('hub') as SignedRecordBlob;
    for (const to of ['d', 'e']) {
      net.deliver(to, { type: 'introduce', from: 'x', fromAddress: '10.0.1.1:7946', record: hubRecord });
    }
    net.run(3_000);

    const referrals = net.sent.filter(
      (m) => m.from === 'hub' && m.message.type === 'neighbor-reply' && m.message.referral !== undefined,
    );
    expect(referrals.length).toBeGreaterThan(0);
    const first = referrals[0]!;
    const offered = first.message.type === 'neighbor-reply' ? first.message.referral : undefined;
    expect(offered).toBe(net.records.get(first.to === 'd' ? 'e' : 'd'));
    expect(node(net, 'd').activeView()).toContain('e');
    expect(node(net, 'e').activeView()).toContain('d');
    expect(node(net, 'hub').activeView().sort()).toEqual(['x', 'y']);
    expect(node(net, 'hub').stats.referrals).toBe(referrals.length);
  });

  it('offers nobody when the earlier refusal was of the same asker', () => {
    const net = smallNet(
      ['hub', 'x', 'y', 'd', 'd2'],
      [
        ['x', 'hub'],
        ['y', 'hub'],
        ['d', 'd2'],
      ],
    );
    const hubRecord = net.records.get('hub') as SignedRecordBlob;
    net.deliver('d', { type: 'introduce', from: 'x', fromAddress: '10.0.1.1:7946', record: hubRecord });
    net.run(2_000);
    const replies = net.sent.filter((m) => m.from === 'hub' && m.to === 'd' && m.message.type === 'neighbor-reply');
    expect(replies.length).toBeGreaterThan(1);
    expect(replies.every((m) => m.message.type === 'neighbor-reply' && m.message.referral === undefined)).toBe(true);
  });
});

describe('evicting to make room', () => {
  /**
   * The hub's neighbours are a and d. `crashed` dies; before the hub's round-robin probe reaches
   * it, a peer with no link left asks urgently, and the hub evicts a neighbour to take it in.
   */
  function evictAfterCrash(crashed: string): Net {
    const net = smallNet(
      ['hub', 'a', 'd', 'x', 'x2'],
      [
        ['a', 'hub'],
        ['d', 'hub'],
        ['x', 'x2'],
      ],
    );
    expect(node(net, 'hub').activeView().sort()).toEqual(['a', 'd']);
    net.down.add(crashed);
    net.deliver('hub', {
      type: 'neighbor',
      from: 'x',
      fromAddress: '10.0.3.1:7946',
      record: net.records.get('x') as SignedRecordBlob,
      highPriority: true,
    });
    return net;
  }

  // With these seeds the hub's random victim is d; whether d died decides what its check finds.
  it.each([
    ['has died unnoticed: the check fails and the hub forgets it, suspecting nobody', 'd'],
    ['is alive: it answers its check and stays a candidate', 'a'],
  ])('checks the neighbour it evicts once; when that neighbour %s', (_what, crashed) => {
    const net = evictAfterCrash(crashed);
    expect(node(net, 'hub').activeView()).toContain('x');
    expect(node(net, 'hub').passiveView()).toContain('d');
    const checks = net.sent.filter(
      (m) => m.from === 'hub' && m.to === 'd' && m.message.type === 'ping' && !m.message.neighbor,
    );
    expect(checks.length).toBe(1);

    net.run(15_000);
    const deaths = net.eventsOf('dead', 'hub').map((e) => (e.event.type === 'dead' ? e.event.peer : ''));
    const known = [...node(net, 'hub').activeView(), ...node(net, 'hub').passiveView()];
    if (crashed === 'd') {
      expect(known).not.toContain('d');
      // A candidate that does not answer is dropped; only a neighbour's failed probe suspects.
      expect(net.sent.filter((m) => m.from === 'hub' && m.message.type === 'ping-req')).toEqual([]);
      const ownSuspicions = net
        .eventsOf('suspect', 'hub')
        .filter((e) => e.event.type === 'suspect' && e.event.from === 'hub');
      expect(ownSuspicions).toEqual([]);
    } else {
      expect(deaths).not.toContain('d');
      expect(known).toContain('d');
    }
  });

  it('drops an evicted neighbour that does not answer its check at the check deadline, not a turn later', () => {
    const net = evictAfterCrash('d');
    const checkedAt = net.now;
    // A check has no indirect pings, so its only deadline is its end: the hub must wake for it.
    const deadline = checkedAt + localConfig({ activeViewSize: 2, passiveViewSize: 8 }).probeIntervalMs;
    expect(node(net, 'hub').nextWakeAt()).toBeLessThanOrEqual(deadline);
    net.run(deadline - 1 - net.now);
    expect(node(net, 'hub').passiveView()).toContain('d');
    net.run(1);
    expect(node(net, 'hub').passiveView()).not.toContain('d');
  });
});

describe('one-sided links (a push-pull says whether the sender holds the link)', () => {
  const claim = (net: Net, from: string): Message => ({
    type: 'push-pull',
    from,
    fromAddress: `addr-of-${from}`,
    records: [net.records.get(from) as SignedRecordBlob],
    reply: true,
    neighbor: true,
  });

  it('a peer that dropped the link takes it back at once while it has room', () => {
    const net = smallNet(['a', 'b'], [['b', 'a']]);
    expect(node(net, 'a').activeView()).toEqual(['b']);
    // b's disconnect reaches a, but b holds the link again (a request passed the disconnect).
    net.deliver('a', { type: 'disconnect', from: 'b', fromAddress: 'addr-of-b' });
    expect(node(net, 'a').activeView()).toEqual([]);
    net.deliver('a', claim(net, 'b'));
    expect(node(net, 'a').activeView()).toEqual(['b']);
    expect(net.eventsOf('neighbor-up', 'a').length).toBe(2);
  });

  it('a full peer tells the claimant to disconnect, and keeps its own neighbours', () => {
    const net = smallNet(
      ['a', 'b', 'c', 'd'],
      [
        ['b', 'a'],
        ['c', 'a'],
      ],
    );
    expect(node(net, 'a').activeView().sort()).toEqual(['b', 'c']);
    net.deliver('a', claim(net, 'd'));
    expect(node(net, 'a').activeView().sort()).toEqual(['b', 'c']);
    const told = net.sent.filter((m) => m.from === 'a' && m.to === 'd' && m.message.type === 'disconnect');
    expect(told.length).toBe(1);
  });

  it('every push-pull says whether its sender holds the receiver as a neighbour', () => {
    const net = cluster(6);
    const pushPulls = net.sent.filter((m) => m.message.type === 'push-pull');
    expect(pushPulls.length).toBeGreaterThan(0);
    for (const m of pushPulls) expect(m.message.type === 'push-pull' && typeof m.message.neighbor).toBe('boolean');
    expect(pushPulls.some((m) => m.message.type === 'push-pull' && m.message.neighbor)).toBe(true);
  });
});

describe('probing (SWIM)', () => {
  it('a healthy cluster raises no suspicion', () => {
    const net = cluster(6);
    net.run(30_000);
    expect(net.eventsOf('suspect')).toHaveLength(0);
    expect([...net.nodes.values()].every((n) => n.stats.probes > 0)).toBe(true);
  });

  it('asks relays to probe indirectly when the direct ack is lost, and stays calm when they reach it', () => {
    const net = cluster(6);
    // Lose every direct ping from p0 to its first neighbour: the indirect path still works.
    const target = node(net, 'p0').activeView()[0];
    net.drop = (o) => o.from === 'p0' && o.to === target && o.message.type === 'ping';
    net.run(20_000);
    expect(node(net, 'p0').stats.indirectProbes).toBeGreaterThan(0);
    expect(net.eventsOf('suspect', 'p0')).toHaveLength(0);
  });

  it('suspects a crashed neighbour, then declares it dead, and every neighbour drops it', () => {
    const net = cluster(8);
    const victim = 'p3';
    const neighbours = node(net, victim).activeView();
    net.down.add(victim);
    const crashedAt = net.now;
    net.run(30_000);
    for (const id of neighbours) {
      expect(node(net, id).activeView()).not.toContain(victim);
      const dead = net.eventsOf('dead', id).filter((e) => 'peer' in e.event && e.event.peer === victim);
      expect(dead.length).toBeGreaterThan(0);
      expect(dead[0].at - crashedAt).toBeLessThan(net.nodes.get(id)?.config.suspicionMaxMs as number);
    }
    const suspects = net.eventsOf('suspect').filter((e) => 'peer' in e.event && e.event.peer === victim);
    expect(suspects[0].at).toBeLessThan(
      net.eventsOf('dead').find((e) => 'peer' in e.event && e.event.peer === victim)?.at as number,
    );
  });
});

describe("a healed partition (Serf's reconnect)", () => {
  it('finds a peer again that left the views while it was suspected', () => {
    // Two peers alone: each one's failed probe demotes the other, its neighbour request goes
    // unanswered and drops it from the views, and only then is it declared dead. The remembered
    // address is all that can bring them back together.
    const net = smallNet(['a', 'b'], [['b', 'a']]);
    net.drop = () => true;
    net.run(60_000);
    for (const [id, other] of [
      ['a', 'b'],
      ['b', 'a'],
    ]) {
      expect(node(net, id).activeView()).toEqual([]);
      expect(node(net, id).passiveView()).toEqual([]);
      expect(net.eventsOf('dead', id).map((e) => (e.event as { peer: string }).peer)).toContain(other);
    }
    net.drop = () => false;
    net.run(2 * node(net, 'a').config.reconnectIntervalMs);
    expect(node(net, 'a').activeView()).toEqual(['b']);
    expect(node(net, 'b').activeView()).toEqual(['a']);
  });
});

describe('refutation (Lifeguard: tell the suspect first)', () => {
  it('a live peer told it is suspected refutes with a higher incarnation, straight to its accuser', () => {
    const net = cluster(4);
    const accused = node(net, 'p1');
    const before = accused.incarnation;
    const suspicion: Message = {
      type: 'gossip',
      from: 'p0',
      fromAddress: '10.0.0.1:7946',
      updates: [{ kind: UpdateKind.Suspect, peer: 'p1', incarnation: before, from: 'p0' }],
    };
    const sentBefore = net.sent.length;
    net.deliver('p1', suspicion);
    expect(accused.incarnation).toBe(before + 1);
    const answer = net.sent.slice(sentBefore).find((m) => m.to === 'p0' && m.message.type === 'gossip');
    expect(answer?.message.type === 'gossip' && answer.message.updates[0]).toMatchObject({
      kind: UpdateKind.Alive,
      peer: 'p1',
      incarnation: before + 1,
    });
    expect(accused.awarenessScore).toBe(1);
  });

  it('ignores a suspicion of an incarnation it has already outranked', () => {
    const net = cluster(3);
    const accused = node(net, 'p1');
    net.deliver('p1', {
      type: 'gossip',
      from: 'p0',
      fromAddress: 'x:1',
      updates: [{ kind: UpdateKind.Suspect, peer: 'p1', incarnation: 0, from: 'p0' }],
    });
    const now = accused.incarnation;
    net.deliver('p1', {
      type: 'gossip',
      from: 'p2',
      fromAddress: 'x:1',
      updates: [{ kind: UpdateKind.Suspect, peer: 'p1', incarnation: 0, from: 'p2' }],
    });
    expect(accused.incarnation).toBe(now);
  });

  it('a suspicion of a live, reachable peer is withdrawn once its refutation arrives', () => {
    const net = cluster(5);
    const target = node(net, 'p0').activeView()[0];
    // Lose p0's pings and ping-reqs for one probe round: p0 suspects its neighbour.
    net.drop = (o) => o.from === 'p0' && (o.message.type === 'ping' || o.message.type === 'ping-req');
    net.run(6_000);
    net.drop = () => false;
    net.run(30_000);
    expect(net.eventsOf('suspect', 'p0').length).toBeGreaterThan(0);
    expect(net.eventsOf('dead').filter((e) => 'peer' in e.event && e.event.peer === target)).toHaveLength(0);
    expect(net.eventsOf('refuted', target).length).toBeGreaterThan(0);
  });
});

describe('late timers (a paused or busy peer reads before it judges)', () => {
  it('a peer paused past its suspicion deadline reads the waiting refutation instead of declaring a death', () => {
    const net = cluster(5);
    // p0's probes are lost until it suspects a neighbour; then p0 stops running at once, before
    // the refutation (already on its way) is read, and stays stopped past any suspicion timeout.
    net.drop = (o) => o.from === 'p0' && (o.message.type === 'ping' || o.message.type === 'ping-req');
    while (net.eventsOf('suspect', 'p0').length === 0) net.run(1);
    net.drop = () => false;
    const suspicion = net.eventsOf('suspect', 'p0')[0].event;
    const target = suspicion.type === 'suspect' ? suspicion.peer : '';
    net.pause('p0');
    net.run(node(net, 'p0').config.suspicionMaxMs + 1_000);
    const held = net.paused.get('p0') as Message[];
    const refutation = held.find(
      (m) => 'updates' in m && m.updates.some((u) => u.kind === UpdateKind.Alive && u.peer === target),
    );
    expect(refutation).toBeDefined();
    net.resume('p0');
    net.run(5_000);
    const deaths = net.eventsOf('dead', 'p0').filter((e) => 'peer' in e.event && e.event.peer === target);
    expect(deaths).toHaveLength(0);
    expect(node(net, 'p0').stats.judgementsHeld).toBeGreaterThan(0);
    expect(node(net, 'p0').peerState(target)?.suspected ?? false).toBe(false);
  });

  it('a peer whose timers always run late still declares a crashed neighbour dead, only later', () => {
    const net = cluster(6);
    const p0 = node(net, 'p0');
    net.late.set('p0', p0.config.probeTimeoutMs);
    const victim = p0.activeView()[0];
    net.down.add(victim);
    net.run(p0.config.suspicionMaxMs * 3);
    expect(p0.stats.judgementsHeld).toBeGreaterThan(0);
    expect(p0.stats.probeFailures).toBeGreaterThan(0);
    expect(p0.activeView()).not.toContain(victim);
    expect(p0.peerState(victim)).toBeUndefined();
  });
});

describe('a rumour confirmed late', () => {
  it('gives the suspect the shortest suspicion from the moment this peer has evidence of its own', () => {
    const net = cluster(5);
    const p0 = node(net, 'p0');
    const target = p0.activeView()[0];
    const teller = p0.activeView().find((id) => id !== target) as string;
    // A rumour reaches p0, and the suspect does not hear it (its refutation would end it at once).
    net.hide = (to, u) => to === target && u.kind === UpdateKind.Suspect && u.peer === target;
    net.deliver('p0', {
      type: 'gossip',
      from: teller,
      fromAddress: '10.0.1.1:7946',
      updates: [{ kind: UpdateKind.Suspect, peer: target, incarnation: node(net, target).incarnation, from: teller }],
    });
    expect(p0.peerState(target)?.suspected).toBe(true);
    // Late in the rumour's life the suspect stalls, so p0's own probe of it fails; whatever it is
    // told meanwhile it reads when it runs again.
    net.run(p0.config.suspicionMaxMs - 3_000);
    net.hide = () => false;
    net.pause(target);
    const failures = p0.stats.probeFailures;
    for (let i = 0; i < 1_000 && p0.stats.probeFailures === failures; i++) net.run(10);
    expect(p0.peerState(target)?.suspected).toBe(true);
    net.resume(target);
    net.run(p0.config.suspicionMaxMs);
    const deaths = net.eventsOf('dead', 'p0').filter((e) => 'peer' in e.event && e.event.peer === target);
    expect(deaths).toHaveLength(0);
    expect(net.eventsOf('refuted', target).length).toBeGreaterThan(0);
    expect(p0.peerState(target)?.suspected ?? false).toBe(false);
  });
});

describe('rumours that nobody can confirm', () => {
  it('lapse once: a peer does not take up again a suspicion it has already let lapse', () => {
    const net = cluster(6);
    const target = node(net, 'p0').activeView()[0];
    // The suspect never hears the rumour, and nobody's probe of it fails: the rumour only
    // travels from peer to peer, piggybacked.
    net.hide = (to, u) => to === target && u.kind === UpdateKind.Suspect && u.peer === target;
    net.deliver('p0', {
      type: 'gossip',
      from: 'p9',
      fromAddress: '10.0.9.1:7946',
      updates: [{ kind: UpdateKind.Suspect, peer: target, incarnation: node(net, target).incarnation, from: 'p9' }],
    });
    net.run(node(net, 'p0').config.suspicionMaxMs * 5);
    const taken = net.eventsOf('suspect').filter((e) => 'peer' in e.event && e.event.peer === target);
    const byPeer = new Map<string, number>();
    for (const e of taken) byPeer.set(e.node, (byPeer.get(e.node) ?? 0) + 1);
    expect(byPeer.size).toBeGreaterThan(1);
    expect(Math.max(...byPeer.values())).toBe(1);
    expect(net.eventsOf('dead').filter((e) => 'peer' in e.event && e.event.peer === target)).toHaveLength(0);
  });

  it('a new accuser of the same incarnation still starts a suspicion after one lapsed', () => {
    const net = cluster(4);
    const p0 = node(net, 'p0');
    const target = p0.activeView()[0];
    net.hide = (to, u) => to === target && u.kind === UpdateKind.Suspect && u.peer === target;
    const rumour = (from: string): Message => ({
      type: 'gossip',
      from: 'p9',
      fromAddress: '10.0.9.1:7946',
      updates: [{ kind: UpdateKind.Suspect, peer: target, incarnation: node(net, target).incarnation, from }],
    });
    net.deliver('p0', rumour('p9'));
    net.run(p0.config.suspicionMaxMs + 100);
    expect(p0.peerState(target)?.suspected).toBe(false);
    net.deliver('p0', rumour('p9'));
    expect(p0.peerState(target)?.suspected).toBe(false);
    net.deliver('p0', rumour('p8'));
    expect(p0.peerState(target)?.suspected).toBe(true);
  });
});

describe('evidence of its own', () => {
  it("is never taken from a message: a suspicion in the receiver's own name is ignored", () => {
    const net = cluster(4);
    const p0 = node(net, 'p0');
    const target = p0.activeView()[0];
    const sender = p0.activeView().find((id) => id !== target) as string;
    net.deliver('p0', {
      type: 'gossip',
      from: sender,
      fromAddress: '10.0.1.1:7946',
      updates: [{ kind: UpdateKind.Suspect, peer: target, incarnation: node(net, target).incarnation, from: 'p0' }],
    });
    expect(p0.peerState(target)?.suspected).toBe(false);
    expect(net.eventsOf('suspect', 'p0')).toHaveLength(0);
  });
});

describe('incarnations beside relayed records', () => {
  const outsider = simRecord('x', 1, ['10.0.77.1:7946']);
  const rumour = (incarnation: number): Message => ({
    type: 'gossip',
    from: 'p1',
    fromAddress: '10.0.1.1:7946',
    updates: [{ kind: UpdateKind.Suspect, peer: 'x', incarnation, from: 'p2' }],
  });
  const shuffled = (incarnations?: number[]): Message => ({
    type: 'shuffle-reply',
    from: 'p1',
    fromAddress: '10.0.1.1:7946',
    records: [outsider],
    ...(incarnations ? { incarnations } : {}),
  });

  it('a peer learned through a shuffle starts at the incarnation its sender knows: an old rumour is no news', () => {
    const net = cluster(3);
    const p0 = node(net, 'p0');
    net.deliver('p0', shuffled([4]));
    expect(p0.peerState('x')).toMatchObject({ incarnation: 4, view: 'passive' });
    net.deliver('p0', rumour(3));
    expect(p0.peerState('x')?.suspected).toBe(false);
    expect(net.eventsOf('suspect', 'p0')).toHaveLength(0);
  });

  it('without one (a sender that does not say), the peer starts at 0 and the same rumour is taken up', () => {
    const net = cluster(3);
    const p0 = node(net, 'p0');
    net.deliver('p0', shuffled());
    expect(p0.peerState('x')).toMatchObject({ incarnation: 0 });
    net.deliver('p0', rumour(3));
    expect(p0.peerState('x')?.suspected).toBe(true);
  });

  it('a newer incarnation beside a record refutes a suspicion of an older one', () => {
    const net = cluster(3);
    const p0 = node(net, 'p0');
    net.deliver('p0', shuffled());
    net.deliver('p0', rumour(3));
    expect(p0.peerState('x')?.suspected).toBe(true);
    net.deliver('p0', shuffled([3]));
    expect(p0.peerState('x')?.suspected).toBe(true);
    net.deliver('p0', shuffled([5]));
    expect(p0.peerState('x')).toMatchObject({ incarnation: 5, suspected: false });
    expect(net.eventsOf('alive', 'p0').map((e) => e.event)).toContainEqual({
      type: 'alive',
      peer: 'x',
      incarnation: 5,
    });
  });

  const verdict = (kind: UpdateKind, incarnation: number): Message => ({
    type: 'gossip',
    from: 'p1',
    fromAddress: '10.0.1.1:7946',
    updates: [{ kind, peer: 'x', incarnation, from: kind === UpdateKind.Alive ? 'x' : 'p2' }],
  });

  it('a death refuted while the peer was out of the views is remembered: the stale verdict does not kill it again', () => {
    // After a healed partition, verdicts of one side reach the other after the refutations.
    const net = cluster(3);
    const p0 = node(net, 'p0');
    net.deliver('p0', shuffled());
    net.deliver('p0', verdict(UpdateKind.Dead, 3));
    expect(p0.peerState('x')).toBeUndefined();
    net.deliver('p0', verdict(UpdateKind.Alive, 4));
    net.deliver('p0', shuffled());
    expect(p0.peerState('x')).toMatchObject({ incarnation: 4, view: 'passive' });
    net.deliver('p0', verdict(UpdateKind.Dead, 3));
    expect(p0.peerState('x')).toMatchObject({ incarnation: 4 });
    expect(net.eventsOf('dead', 'p0')).toHaveLength(1);
  });

  it('a dead peer back in its own words starts at the incarnation it was declared dead at', () => {
    const net = cluster(3);
    const p0 = node(net, 'p0');
    net.deliver('p0', shuffled());
    net.deliver('p0', verdict(UpdateKind.Dead, 3));
    net.deliver('p0', {
      type: 'neighbor',
      from: 'x',
      fromAddress: '10.0.77.1:7946',
      record: outsider,
      highPriority: false,
    });
    expect(p0.peerState('x')?.incarnation).toBe(3);
    net.deliver('p0', verdict(UpdateKind.Suspect, 2));
    expect(p0.peerState('x')?.suspected).toBe(false);
  });

  it('every shuffle, shuffle reply and push-pull says the incarnation it holds for each record', () => {
    const net = cluster(8);
    const carriers = net.sent.filter((m) => ['shuffle', 'shuffle-reply', 'push-pull'].includes(m.message.type));
    expect(carriers.length).toBeGreaterThan(0);
    for (const { from, message } of carriers) {
      if (message.type !== 'shuffle' && message.type !== 'shuffle-reply' && message.type !== 'push-pull') continue;
      expect(message.incarnations).toHaveLength(message.records.length);
      // A push-pull and a shuffle's origin lead with their own record and incarnation.
      if (message.type === 'push-pull' || (message.type === 'shuffle' && message.origin === from)) {
        expect((message.records[0] as SimRecordBlob).view.peerId).toBe(from);
        expect(message.incarnations?.[0]).toBe(node(net, from).incarnation);
      }
    }
  });
});

describe('local health (Lifeguard awareness)', () => {
  it('grows when relays do not send the nacks they owe, and stretches the probe interval', () => {
    const net = cluster(6);
    const p0 = node(net, 'p0');
    // p0 hears nothing at all: no acks, no nacks.
    net.drop = (o) => o.to === 'p0';
    const probesBefore = p0.stats.probes;
    net.run(10_000);
    expect(p0.awarenessScore).toBeGreaterThan(0);
    const probes = p0.stats.probes - probesBefore;
    // Without the slowdown it would probe about once per second.
    expect(probes).toBeLessThan(10);
  });

  it('is not used with Lifeguard off', () => {
    const net = cluster(6, { lifeguard: false });
    net.drop = (o) => o.to === 'p0';
    net.run(10_000);
    expect(node(net, 'p0').awarenessScore).toBe(0);
  });
});

describe('records', () => {
  it('drops and counts a forged record, and never lets it into a view', () => {
    const net = cluster(3);
    const forged = forgedSimRecord('evil', 1, ['10.66.0.1:7946']);
    net.deliver('p0', { type: 'join', from: 'evil', fromAddress: '10.66.0.1:7946', record: forged });
    net.deliver('p0', { type: 'introduce', from: 'p1', fromAddress: 'x:1', record: forged });
    expect(node(net, 'p0').stats.recordsRejectedBadSignature).toBe(2);
    expect([...node(net, 'p0').activeView(), ...node(net, 'p0').passiveView()]).not.toContain('evil');
  });

  it('drops and counts a record older than the one it holds', () => {
    const net = cluster(3);
    const p0 = node(net, 'p0');
    const peer = p0.activeView()[0];
    const newer = simRecord(peer, 5, ['10.0.9.9:7946']);
    net.deliver('p0', { type: 'introduce', from: 'p2', fromAddress: 'x:1', record: newer });
    net.deliver('p0', {
      type: 'introduce',
      from: 'p2',
      fromAddress: 'x:1',
      record: simRecord(peer, 3, ['10.0.8.8:7946']),
    });
    expect(p0.recordOf(peer)).toBe(newer);
    expect(p0.stats.recordsRejectedStale).toBe(1);
  });

  it('sends a record with a new address to every neighbour at once', () => {
    const net = cluster(6);
    const p2 = node(net, 'p2');
    const moved = simRecord('p2', 2, ['10.0.77.1:7946']);
    const effects = p2.updateRecord(net.now, moved);
    const told = effects.messages.filter((m) => m.message.type === 'gossip').map((m) => m.to);
    expect(told.sort()).toEqual([...p2.activeView()].sort());
    net.apply('p2', effects);
    net.run(2_000);
    for (const peer of p2.activeView()) expect(node(net, peer).recordOf('p2')).toBe(moved);
  });

  it('piggybacks a record re-signed at the same address rather than sending it to each neighbour', () => {
    const net = cluster(6);
    const p2 = node(net, 'p2');
    const resigned = simRecord('p2', 2, ['10.0.2.1:7946']);
    const effects = p2.updateRecord(net.now, resigned);
    expect(effects.messages.filter((m) => m.message.type === 'gossip')).toEqual([]);
    net.apply('p2', effects);
    net.run(5_000);
    for (const peer of p2.activeView()) expect(node(net, peer).recordOf('p2')).toBe(resigned);
  });

  it('relays records as the same bytes it received', () => {
    const net = cluster(8);
    const relayed = net.sent.filter((m) => m.message.type === 'forward-join' || m.message.type === 'shuffle');
    expect(relayed.length).toBeGreaterThan(0);
    for (const m of relayed) {
      const records =
        m.message.type === 'shuffle' ? m.message.records : m.message.type === 'forward-join' ? [m.message.record] : [];
      for (const r of records) expect(r).toBe(net.records.get((r as SimRecordBlob).view.peerId));
    }
  });
});

describe('view diversity', () => {
  it('keeps at most maxPeersPerAddressGroup peers of one /24 whatever a shuffle offers', () => {
    const net = cluster(3, { maxPeersPerAddressGroup: 2 });
    const sybils = Array.from({ length: 20 }, (_, i) => simRecord(`sybil${i}`, 1, [`203.0.113.${i + 1}:7946`]));
    net.deliver('p0', { type: 'shuffle-reply', from: 'p1', fromAddress: 'x:1', records: sybils });
    net.deliver('p0', {
      type: 'shuffle',
      from: 'p1',
      fromAddress: 'x:1',
      origin: 'p1',
      originAddress: 'x:1',
      records: sybils,
      ttl: 0,
    });
    const held = node(net, 'p0')
      .passiveView()
      .filter((id) => id.startsWith('sybil'));
    expect(held.length).toBeLessThanOrEqual(2);
  });
});

describe('flooding', () => {
  it('reaches every peer once and suppresses duplicates', () => {
    const net = cluster(10);
    net.apply('p4', node(net, 'p4').flood(net.now, 'm1', new Uint8Array(8)));
    net.run(1_000);
    const delivered = net.eventsOf('flood').map((e) => e.node);
    expect(new Set(delivered).size).toBe(9);
    expect(delivered).toHaveLength(9);
    const dups = [...net.nodes.values()].reduce((a, n) => a + n.stats.floodDuplicates, 0);
    expect(dups).toBeGreaterThan(0);
  });

  it('stops at its TTL', () => {
    const net = cluster(10);
    net.apply('p4', node(net, 'p4').flood(net.now, 'm2', new Uint8Array(0), 1));
    net.run(1_000);
    const delivered = net.eventsOf('flood');
    expect(delivered.length).toBe(node(net, 'p4').activeCount);
    expect(delivered.every((e) => e.event.type === 'flood' && e.event.hops === 1)).toBe(true);
  });
});

describe('introductions', () => {
  it('hands the newcomer a sample of the member and tells some of its neighbours', () => {
    const net = cluster(6);
    const member = node(net, 'p2');
    net.add('new');
    const { sample, effects } = member.introduce(net.now, net.records.get('new') as SignedRecordBlob);
    expect(sample.length).toBeGreaterThan(1);
    expect(sample[0]).toBe(net.records.get('p2'));
    const told = effects.messages.filter((m) => m.message.type === 'introduce');
    expect(told.length).toBe(Math.min(member.config.introductionFanout, member.activeCount));
    net.apply('p2', effects);
    net.run(10);
    for (const m of told) expect(node(net, m.to).passiveView()).toContain('new');
  });
});

describe('timers', () => {
  it('asks to be woken no later than its next probe', () => {
    const net = cluster(3);
    const n = node(net, 'p0');
    expect(n.nextWakeAt()).toBeGreaterThan(net.now);
    expect(n.nextWakeAt()).toBeLessThanOrEqual(
      net.now + n.config.probeIntervalMs * (n.config.awarenessMaxMultiplier + 1),
    );
  });

  it('does nothing once it has left', () => {
    const net = cluster(3);
    const effects = node(net, 'p0').leave(net.now);
    expect(effects.messages.some((m) => m.message.type === 'disconnect')).toBe(true);
    expect(node(net, 'p0').nextWakeAt()).toBe(Infinity);
    net.apply('p0', effects);
    net.run(100);
    for (const id of ['p1', 'p2']) expect(node(net, id).activeView()).not.toContain('p0');
    expect(net.eventsOf('dead').every((e) => e.event.type === 'dead' && e.event.cause === 'left')).toBe(true);
  });
});
