import { FloodTree, MAX_ANNOUNCED_IDS, type FloodLink, type FloodTreeStats } from './flood-tree';
import type { Flood, Message } from './messages';

const CONFIG = { floodCacheSize: 1_024, floodAnnounceIntervalMs: 500, floodGraftWaitMs: 100 };
const LATENCY_MS = 1;

/** Flood trees joined by symmetric links; every message takes 1 ms. */
class TreeNet {
  now = 0;
  readonly trees = new Map<string, FloodTree>();
  readonly stats = new Map<string, FloodTreeStats>();
  readonly links = new Map<string, FloodLink[]>();
  /** When each peer first got each flood. */
  readonly got = new Map<string, Map<string, number>>();
  readonly sent: Array<{ at: number; from: string; to: string; message: Message }> = [];
  private queue: Array<{ at: number; to: string; message: Message }> = [];

  constructor(ids: readonly string[], edges: readonly [string, string][]) {
    for (const id of ids) {
      const stats = { floodsDelivered: 0, floodDuplicates: 0, floodGrafts: 0 };
      this.stats.set(id, stats);
      this.links.set(id, []);
      this.got.set(id, new Map());
      this.trees.set(
        id,
        new FloodTree(CONFIG, stats, {
          self: () => ({ from: id, fromAddress: `addr-${id}` }),
          send: (to, message) => {
            this.sent.push({ at: this.now, from: id, to: to.id, message });
            this.queue.push({ at: this.now + LATENCY_MS, to: to.id, message });
          },
          deliver: (flood) => this.got.get(id)!.set(flood.id, this.now),
        }),
      );
    }
    for (const [a, b] of edges) this.link(a, b);
  }

  link(a: string, b: string): void {
    this.links.get(a)!.push({ id: b, address: `addr-${b}` });
    this.links.get(b)!.push({ id: a, address: `addr-${a}` });
    this.trees.get(a)!.linkUp(this.now, { id: b, address: `addr-${b}` });
    this.trees.get(b)!.linkUp(this.now, { id: a, address: `addr-${a}` });
  }

  unlink(a: string, b: string): void {
    this.links.set(
      a,
      this.links.get(a)!.filter((l) => l.id !== b),
    );
    this.links.set(
      b,
      this.links.get(b)!.filter((l) => l.id !== a),
    );
    this.trees.get(a)!.linkDown(b);
    this.trees.get(b)!.linkDown(a);
  }

  flood(origin: string, id: string): void {
    const flood: Flood = {
      type: 'flood',
      from: origin,
      fromAddress: `addr-${origin}`,
      id,
      origin,
      ttl: 16,
      hops: 1,
      payload: new Uint8Array(8),
    };
    this.got.get(origin)!.set(id, this.now);
    this.trees.get(origin)!.originate(this.now, flood, this.links.get(origin)!);
  }

  run(forMs: number): void {
    const end = this.now + forMs;
    for (;;) {
      let next = Infinity;
      for (const q of this.queue) next = Math.min(next, q.at);
      for (const tree of this.trees.values()) next = Math.min(next, tree.nextWakeAt());
      if (next > end) break;
      this.now = next;
      const due = this.queue.filter((q) => q.at <= next);
      this.queue = this.queue.filter((q) => q.at > next);
      for (const q of due) this.deliver(q.to, q.message);
      for (const [id, tree] of this.trees) if (tree.nextWakeAt() <= this.now) tree.tick(this.now, this.links.get(id)!);
    }
    this.now = end;
  }

  reached(id: string): string[] {
    return [...this.got].filter(([, floods]) => floods.has(id)).map(([peer]) => peer);
  }

  pushes(id: string): number {
    return this.sent.filter((s) => s.message.type === 'flood' && s.message.id === id).length;
  }

  private deliver(to: string, message: Message): void {
    const tree = this.trees.get(to)!;
    const links = this.links.get(to)!;
    switch (message.type) {
      case 'flood':
        return tree.receive(this.now, message, links);
      case 'flood-prune':
        return tree.pruned(message.from, links);
      case 'flood-announce':
        return tree.announced(this.now, message.from, message.ids, links);
      case 'flood-graft':
        return tree.grafted(message.from, message.id, links);
    }
  }
}

/** Six peers on a ring with two chords: 8 links, so a flood over every link sends duplicates. */
const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];
const EDGES: [string, string][] = [
  ['a', 'b'],
  ['b', 'c'],
  ['c', 'd'],
  ['d', 'e'],
  ['e', 'f'],
  ['f', 'a'],
  ['a', 'd'],
  ['b', 'e'],
];

/** A net whose tree has formed: one flood has pruned every link it crossed twice. */
function formed(): TreeNet {
  const net = new TreeNet(IDS, EDGES);
  net.flood('a', 'first');
  net.run(2_000);
  return net;
}

describe('FloodTree (Plumtree)', () => {
  it('pushes over every link at first, then over a tree: one push per peer reached', () => {
    const net = new TreeNet(IDS, EDGES);
    net.flood('a', 'first');
    net.run(2_000);
    expect(net.reached('first').sort()).toEqual(IDS);
    expect(net.pushes('first')).toBeGreaterThan(IDS.length - 1);

    net.flood('d', 'second');
    net.run(2_000);
    expect(net.reached('second').sort()).toEqual(IDS);
    expect(net.pushes('second')).toBe(IDS.length - 1);
    const duplicates = [...net.stats.values()].reduce((sum, s) => sum + s.floodDuplicates, 0);
    net.flood('f', 'third');
    net.run(2_000);
    expect([...net.stats.values()].reduce((sum, s) => sum + s.floodDuplicates, 0)).toBe(duplicates);
  });

  it('announces over the links off the tree in one batch per interval, however many floods', () => {
    const net = formed();
    const before = net.sent.length;
    for (let i = 0; i < 5; i++) net.flood(IDS[i]!, `burst-${i}`);
    net.run(2_000);
    const announcements = net.sent.slice(before).filter((s) => s.message.type === 'flood-announce');
    expect(announcements.length).toBeGreaterThan(0);
    const perLink = new Map<string, number>();
    for (const s of announcements) perLink.set(`${s.from}>${s.to}`, (perLink.get(`${s.from}>${s.to}`) ?? 0) + 1);
    expect(Math.max(...perLink.values())).toBe(1);
    expect(announcements.some((s) => s.message.type === 'flood-announce' && s.message.ids.length > 1)).toBe(true);
    for (let i = 0; i < 5; i++) expect(net.reached(`burst-${i}`).sort()).toEqual(IDS);
    // Every peer already had what it was announced: nobody grafted.
    expect([...net.stats.values()].every((s) => s.floodGrafts === 0)).toBe(true);
  });

  it('repairs a tree cut by a failed link: the peer beyond it grafts the flood it was announced', () => {
    // A triangle: the first flood from a reaches b and c at once, they push it to each other,
    // and both prune b-c. The tree is a-b and a-c.
    const net = new TreeNet(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ],
    );
    net.flood('a', 'first');
    net.run(2_000);
    expect(net.trees.get('b')!.isLazy('c')).toBe(true);
    expect(net.trees.get('c')!.isLazy('b')).toBe(true);

    // The link a-c fails. The next flood reaches c only through b's announcement.
    net.unlink('a', 'c');
    const start = net.now;
    net.flood('a', 'after-cut');
    net.run(3_000);
    expect(net.reached('after-cut').sort()).toEqual(['a', 'b', 'c']);
    expect(net.stats.get('c')!.floodGrafts).toBe(1);
    const lateBy = net.got.get('c')!.get('after-cut')! - start;
    // b got it after 1 ms and announced it at its first announce time half an interval or more
    // later; c waited the graft wait, asked, and got b's copy.
    const fixed = LATENCY_MS + LATENCY_MS + CONFIG.floodGraftWaitMs + 2 * LATENCY_MS;
    expect(lateBy).toBeGreaterThanOrEqual(fixed + CONFIG.floodAnnounceIntervalMs / 2);
    expect(lateBy).toBeLessThan(fixed + 1.5 * CONFIG.floodAnnounceIntervalMs);

    // The graft put b-c back on the tree: the next flood is pushed to c with no graft.
    const again = net.now;
    net.flood('a', 'after-repair');
    net.run(3_000);
    expect(net.got.get('c')!.get('after-repair')! - again).toBe(2 * LATENCY_MS);
    expect(net.stats.get('c')!.floodGrafts).toBe(1);
  });

  it('announces at a phase of its own in each interval, so peers do not announce together', () => {
    const net = formed();
    for (let i = 0; i < 12; i++) {
      net.flood(IDS[i % IDS.length]!, `spread-${i}`);
      net.run(137);
    }
    net.run(2_000);
    const phases = new Map<string, Set<number>>();
    for (const s of net.sent) {
      if (s.message.type !== 'flood-announce') continue;
      const set = phases.get(s.from) ?? new Set<number>();
      set.add(s.at % CONFIG.floodAnnounceIntervalMs);
      phases.set(s.from, set);
    }
    expect(phases.size).toBeGreaterThan(2);
    // Each peer always at its own phase; not all peers at the same one.
    for (const set of phases.values()) expect(set.size).toBe(1);
    expect(new Set([...phases.values()].map((set) => [...set][0])).size).toBeGreaterThan(1);
  });

  it('asks the next announcer when the first does not answer', () => {
    const net = formed();
    const tree = net.trees.get('a')!;
    const links = net.links.get('a')!;
    const [first, second] = links;
    tree.announced(net.now, first!.id, ['never-sent'], links);
    tree.announced(net.now, second!.id, ['never-sent'], links);
    net.run(CONFIG.floodGraftWaitMs);
    const grafts = () => net.sent.filter((s) => s.from === 'a' && s.message.type === 'flood-graft').map((s) => s.to);
    expect(grafts()).toEqual([first!.id]);
    net.run(CONFIG.floodGraftWaitMs);
    expect(grafts()).toEqual([first!.id, second!.id]);
    net.run(5 * CONFIG.floodGraftWaitMs);
    expect(grafts()).toEqual([first!.id, second!.id]);
    expect(tree.nextWakeAt()).toBe(Infinity);
  });

  it('puts a link that comes back on the tree: floods are pushed over it at once', () => {
    const net = formed();
    const lazyLink = EDGES.find(([x, y]) => net.trees.get(x)!.isLazy(y))!;
    const [x, y] = lazyLink;
    net.unlink(x, y);
    net.link(x, y);
    expect(net.trees.get(x)!.isLazy(y)).toBe(false);
    net.flood(x, 'over-link-back');
    net.run(50);
    expect(net.sent.some((s) => s.message.type === 'flood' && s.from === x && s.to === y)).toBe(true);
  });

  /** A formed net where f lost both its links, then a flood from c went round for `ms`. */
  function floodWithoutF(id: string, ms: number): TreeNet {
    const net = formed();
    net.unlink('e', 'f');
    net.unlink('f', 'a');
    net.flood('c', id);
    net.run(ms);
    return net;
  }

  it('tells a new link of the floods it kept: a peer cut off while one went round grafts it', () => {
    const net = floodWithoutF('while-away', 200);
    expect(net.reached('while-away')).not.toContain('f');
    net.link('f', 'a');
    net.run(2 * CONFIG.floodAnnounceIntervalMs);
    expect(net.reached('while-away')).toContain('f');
    expect(net.stats.get('f')!.floodGrafts).toBe(1);
  });

  it('does not tell a new link of floods older than it keeps', () => {
    const net = floodWithoutF('long-ago', 10_000);
    const before = net.sent.length;
    net.link('f', 'a');
    net.run(2 * CONFIG.floodAnnounceIntervalMs);
    expect(net.sent.slice(before).filter((s) => s.message.type === 'flood-announce')).toEqual([]);
    expect(net.reached('long-ago')).not.toContain('f');
  });

  it('prunes again when a neighbour keeps pushing over a pruned link (it missed the prune)', () => {
    const net = formed();
    const [x, y] = EDGES.find(([a, b]) => net.trees.get(a)!.isLazy(b))!;
    const copy = net.sent.find((s) => s.message.type === 'flood' && s.message.id === 'first' && s.to === x)!;
    const before = net.sent.length;
    // y pushes the first flood to x once more, as if x's prune had never reached it.
    net.trees
      .get(x)!
      .receive(net.now, { ...(copy.message as Flood), from: y, fromAddress: `addr-${y}` }, net.links.get(x)!);
    const prunes = net.sent.slice(before).filter((s) => s.message.type === 'flood-prune');
    expect(prunes.map((s) => `${s.from}>${s.to}`)).toEqual([`${x}>${y}`]);
  });

  it('ignores announcements and grafts from peers that are not neighbours', () => {
    const net = formed();
    const tree = net.trees.get('a')!;
    const before = net.sent.length;
    tree.announced(net.now, 'stranger', ['unknown-flood'], net.links.get('a')!);
    tree.grafted('stranger', 'first', net.links.get('a')!);
    net.run(2_000);
    expect(net.sent.length).toBe(before);
  });

  it('sends a full batch of announcements at once, and never more ids in one', () => {
    const net = new TreeNet(
      ['a', 'b', 'c'],
      [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ],
    );
    net.trees.get('a')!.pruned('b', net.links.get('a')!);
    for (let i = 0; i < MAX_ANNOUNCED_IDS + 3; i++) net.flood('a', `m${i}`);
    const toB = net.sent.filter((s) => s.from === 'a' && s.to === 'b' && s.message.type === 'flood-announce');
    expect(toB.length).toBe(1);
    expect(toB[0]!.message.type === 'flood-announce' && toB[0]!.message.ids.length).toBe(MAX_ANNOUNCED_IDS);
  });
});
