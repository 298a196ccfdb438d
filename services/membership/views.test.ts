import { createRng } from './rng';
import { newEntry, PeerViews } from './views';

const blob = { record: new Uint8Array(0), signature: new Uint8Array(0) };
const peer = (id: string, address: string) => newEntry(id, blob, 1, address);

describe('PeerViews', () => {
  const rng = createRng(1);

  it('never holds more than its sizes', () => {
    const v = new PeerViews(3, 5, 64);
    for (let i = 0; i < 10; i++) v.addActive(peer(`a${i}`, `10.0.${i}.1:1`), rng);
    for (let i = 0; i < 20; i++) v.addPassive(peer(`p${i}`, `10.1.${i}.1:1`), rng);
    expect(v.active).toHaveLength(3);
    expect(v.passive).toHaveLength(5);
  });

  it('caps the peers of one /24 in each view', () => {
    const v = new PeerViews(5, 30, 2);
    const results = Array.from({ length: 6 }, (_, i) => v.addPassive(peer(`s${i}`, `192.0.2.${i + 1}:7946`), rng));
    expect(results).toEqual([true, true, false, false, false, false]);
    expect(v.addPassive(peer('other', '192.0.3.1:7946'), rng)).toBe(true);
    expect(v.addActive(peer('s9', '192.0.2.50:7946'), rng)).toBe(true);
  });

  it('moves a peer between views and forgets it on remove', () => {
    const v = new PeerViews(3, 5, 64);
    const e = peer('x', '10.0.0.1:1');
    v.addPassive(e, rng);
    expect(v.addActive(e, rng)).toBe(true);
    expect(v.passive).toHaveLength(0);
    expect(v.isActive('x')).toBe(true);
    v.addPassive(e, rng);
    expect(v.isActive('x')).toBe(false);
    expect(v.remove('x')).toBe(e);
    expect(v.get('x')).toBeUndefined();
  });

  it('remembers the incarnation of a peer it removed, for when it meets it again', () => {
    const v = new PeerViews(3, 2, 64);
    const e = peer('x', '10.0.0.1:1');
    v.addPassive(e, rng);
    e.incarnation = 7;
    expect(v.pastIncarnation('x')).toBe(0);
    v.remove('x');
    expect(v.pastIncarnation('x')).toBe(7);
    // Bounded: the oldest memories go first.
    for (let i = 0; i < 8; i++) {
      const other = peer(`o${i}`, `10.0.${i + 1}.1:1`);
      other.incarnation = 1;
      v.addPassive(other, rng);
      v.remove(other.id);
    }
    expect(v.pastIncarnation('x')).toBe(0);
    expect(v.pastIncarnation('o7')).toBe(1);
  });

  it('evicts the preferred peers first when the passive view is full', () => {
    const v = new PeerViews(3, 3, 64);
    for (const id of ['a', 'b', 'c']) v.addPassive(peer(id, `10.0.${id.charCodeAt(0)}.1:1`), rng);
    v.addPassive(peer('d', '10.9.9.9:1'), rng, new Set(['b']));
    expect(v.passive.map((p) => p.id).sort()).toEqual(['a', 'c', 'd']);
  });
});
