import { BroadcastQueue } from './broadcast-queue';
import { UpdateKind, type Update } from './messages';

const alive = (peer: string, incarnation = 1): Update => ({ kind: UpdateKind.Alive, peer, incarnation, from: peer });

describe('BroadcastQueue', () => {
  it('sends each update at most the retransmit limit', () => {
    const q = new BroadcastQueue(3, 100);
    q.enqueue(alive('a'));
    const sent = [q.take(5), q.take(5), q.take(5), q.take(5)].map((batch) => batch.length);
    expect(sent).toEqual([1, 1, 1, 0]);
    expect(q.size).toBe(0);
  });

  it('sends the least-sent updates first', () => {
    const q = new BroadcastQueue(10, 100);
    q.enqueue(alive('a'));
    q.take(1);
    q.enqueue(alive('b'));
    expect(q.take(1).map((u) => u.peer)).toEqual(['b']);
  });

  it('replaces an older update about the same peer', () => {
    const q = new BroadcastQueue(10, 100);
    q.enqueue(alive('a', 1));
    q.enqueue(alive('a', 2));
    const batch = q.take(5);
    expect(batch).toHaveLength(1);
    expect(batch[0].incarnation).toBe(2);
    expect(q.about('a')?.incarnation).toBe(2);
  });

  it('keeps at most maxItems, dropping the most-sent', () => {
    const q = new BroadcastQueue(10, 2);
    q.enqueue(alive('a'));
    q.take(1);
    q.enqueue(alive('b'));
    q.enqueue(alive('c'));
    expect(q.size).toBe(2);
    expect(q.about('a')).toBeUndefined();
  });

  it('returns an empty batch when asked for none', () => {
    const q = new BroadcastQueue(10, 10);
    q.enqueue(alive('a'));
    expect(q.take(0)).toHaveLength(0);
  });
});
