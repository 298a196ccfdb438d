import { Registry } from 'prom-client';
import { BatchedCounter } from './batched-counter';

function counter(registry: Registry, collect?: () => void) {
  return new BatchedCounter({
    name: 'test_messages_total',
    help: 'Messages.',
    labelNames: ['type', 'code'],
    registers: [registry],
    collect,
  });
}

async function values(c: BatchedCounter<'type' | 'code'>) {
  return Object.fromEntries((await c.get()).values.map((v) => [`${v.labels.type}/${v.labels.code}`, v.value]));
}

describe('BatchedCounter', () => {
  it('shows every increment of its children at each read, once', async () => {
    const registry = new Registry();
    const c = counter(registry);
    const ping = c.child({ type: 'ping', code: 'ok' });
    ping.inc();
    ping.inc(4);
    c.child({ code: 'ok', type: 'ping' }).inc(); // the same set, built in another order
    c.child({ type: 'push', code: 'ok' }).inc(2);
    expect(await values(c)).toEqual({ 'ping/ok': 6, 'push/ok': 2 });
    expect(await values(c)).toEqual({ 'ping/ok': 6, 'push/ok': 2 });
    ping.inc();
    c.inc({ type: 'push', code: 'ok' }, 10); // the plain path still counts
    expect(await registry.metrics()).toContain('test_messages_total{type="ping",code="ok"} 7');
    expect(await values(c)).toEqual({ 'ping/ok': 7, 'push/ok': 12 });
  });

  it('checks a label set when the child is made, and shows it at 0 until counted', async () => {
    const c = counter(new Registry());
    expect(() => c.child({ type: 'ping', nope: 'x' } as never)).toThrow(/nope/);
    c.child({ type: 'gossip', code: 'ok' });
    expect(await values(c)).toEqual({ 'gossip/ok': 0 });
  });

  it('still runs the collect it was given', async () => {
    let collected = 0;
    const c = counter(new Registry(), () => collected++);
    await c.get();
    expect(collected).toBe(1);
  });
});
