import fc from 'fast-check';
import { EventHeap, WakeHeap } from './event-queue';

describe('EventHeap', () => {
  it('pops in time order, and in insertion order at equal times', () => {
    const h = new EventHeap<string>();
    h.push(5, 'e');
    h.push(1, 'a');
    h.push(3, 'c1');
    h.push(3, 'c2');
    h.push(3, 'c3');
    const out: string[] = [];
    while (h.size > 0) out.push(h.pop() as string);
    expect(out).toEqual(['a', 'c1', 'c2', 'c3', 'e']);
    expect(h.peekTime()).toBe(Infinity);
  });

  it('agrees with a sort for any sequence of pushes and pops', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 50 })), { maxLength: 3_000 }), (ops) => {
        const h = new EventHeap<number>();
        const model: Array<[number, number]> = [];
        let n = 0;
        for (const [isPush, t] of ops) {
          if (isPush || model.length === 0) {
            h.push(t, n);
            model.push([t, n++]);
          } else {
            model.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
            expect(h.pop()).toBe(model.shift()?.[1]);
          }
        }
        expect(h.size).toBe(model.length);
      }),
    );
  });
});

describe('WakeHeap', () => {
  it('keeps one time per node and reschedules in place', () => {
    const h = new WakeHeap(4);
    h.set(0, 10);
    h.set(1, 5);
    h.set(2, 7);
    h.set(1, 20);
    expect(h.peekNode()).toBe(2);
    h.set(2, Infinity);
    expect(h.peekNode()).toBe(0);
    expect(h.size).toBe(2);
  });

  it('always yields the earliest node under random updates', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 15 }), fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(Infinity))),
          {
            maxLength: 500,
          },
        ),
        (ops) => {
          const h = new WakeHeap(16);
          const model = new Array<number>(16).fill(Infinity);
          for (const [node, t] of ops) {
            h.set(node, t);
            model[node] = t;
            const min = Math.min(...model);
            expect(h.peekTime()).toBe(min);
            if (min !== Infinity) expect(model[h.peekNode()]).toBe(min);
          }
        },
      ),
    );
  });
});
