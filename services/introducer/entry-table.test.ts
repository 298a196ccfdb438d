import { createRng } from '../membership';
import type { MirrorEntry } from './directory-mirror';
import { EntryTable } from './entry-table';

const entry = (peerId: string, address: string): MirrorEntry =>
  ({ peerId, record: { addresses: [address] }, signed: {} }) as unknown as MirrorEntry;

describe('EntryTable', () => {
  test('counts entries per host, moving them when an address changes', () => {
    const table = new EntryTable();
    table.set(entry('a', '10.0.0.1:7600'));
    table.set(entry('b', '10.0.0.1:7601'));
    table.set(entry('c', '[::1]:7600'));
    expect([table.countAt('10.0.0.1'), table.countAt('::1'), table.size]).toEqual([2, 1, 3]);
    table.set(entry('b', '10.0.0.2:7600'));
    expect([table.countAt('10.0.0.1'), table.countAt('10.0.0.2'), table.size]).toEqual([1, 1, 3]);
    table.delete('a');
    table.delete('a');
    expect([table.countAt('10.0.0.1'), table.size, table.has('a')]).toEqual([0, 2, false]);
  });

  test('keeps every entry reachable by index through any order of removals', () => {
    const table = new EntryTable();
    const rng = createRng(7);
    const live = new Set<string>();
    for (let step = 0; step < 2_000; step++) {
      const id = `p${rng.int(200)}`;
      if (rng.next() < 0.6) {
        table.set(entry(id, `10.0.${rng.int(4)}.1:7600`));
        live.add(id);
      } else {
        table.delete(id);
        live.delete(id);
      }
      expect(table.size).toBe(live.size);
    }
    const seen = new Set(Array.from({ length: table.size }, (_, i) => table.at(i).peerId));
    expect(seen).toEqual(live);
    const perHost = [0, 1, 2, 3].reduce((sum, i) => sum + table.countAt(`10.0.${i}.1`), 0);
    expect(perHost).toBe(live.size);
  });
});
