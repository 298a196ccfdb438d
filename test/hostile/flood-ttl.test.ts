/**
 * A peer that floods with the largest TTL it can. Three defences, each with its figure:
 *
 * - the TTL cap: a flood asking for more than maxFloodTtlHops (from the application or relayed by
 *   a peer), or with hops outside 1..ttl, answers INVALID_ARGUMENT and goes nowhere;
 * - duplicate suppression: at the cap, the same flood ids sent again and again, through several
 *   hosts, reach each host's application once;
 * - the per-sender rate (peerCallsPerSecond, twice that at once): past it the flooder's calls
 *   answer RESOURCE_EXHAUSTED, and what was refused is delivered nowhere.
 *
 * Five real hosts on loopback; the flooder speaks the Host protocol directly.
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { HostClient } from '../../services/client/host-client';
import { generateIdentity, type Identity } from '../../services/common/identity';
import type { FloodRequest } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import { codeOf } from '../support/directory';
import { hostClient, startTestHost, waitUntil } from '../support/hosts';
import { attempt, countCodes, formatCounts } from './attacker';

const HOSTS = 5;
const RATE = 50;
const MAX_TTL = 32;
const DISTINCT = 20;
const COPIES = 3;
const STORM = 400;

describe('a peer flooding with the largest TTL', () => {
  const hosts: RunningHost[] = [];
  const received: Map<string, number>[] = [];
  const aborts: AbortController[] = [];
  const apps: HostClient[] = [];

  beforeAll(async () => {
    const overrides = { peerCallsPerSecond: RATE, maxFloodTtlHops: MAX_TTL };
    hosts.push(await startTestHost(overrides));
    for (let k = 1; k < HOSTS; k++) hosts.push(await startTestHost({ ...overrides, seeds: [hosts[0].address] }));
    await waitUntil(
      () => hosts.every((h) => h.node.activeView().length >= 2),
      20_000,
      'every host to have two neighbours',
    );
    // Each host's application counts the flood ids it receives.
    for (const host of hosts) {
      const app = new HostClient(host.appAddress!, { deadlineMs: 5_000 });
      const abort = new AbortController();
      const ids = new Map<string, number>();
      apps.push(app);
      aborts.push(abort);
      received.push(ids);
      void (async () => {
        try {
          for await (const message of app.receive({ signal: abort.signal })) {
            if (message.kind === 'flood') ids.set(message.messageId, (ids.get(message.messageId) ?? 0) + 1);
          }
        } catch {
          // The host stopped.
        }
      })();
    }
    // Every application is subscribed once floods reach all of them (a host does not deliver its
    // own flood, so two origins); a flood sent before a subscription is missed by it, so probe
    // until they do.
    const probes: string[] = [];
    const reachedAll = () =>
      received.every((ids) => probes.some((probe) => ids.has(probe))) &&
      probes.some((probe) => received.filter((ids) => ids.has(probe)).length === HOSTS - 1);
    await waitUntil(
      async () => {
        if (reachedAll()) return true;
        probes.push(await apps[probes.length % 2].flood(Buffer.from('hello')));
        return false;
      },
      10_000,
      'the first floods to reach every host',
    );
  });

  afterAll(async () => {
    aborts.forEach((abort) => abort.abort());
    apps.forEach((app) => app.close());
    await Promise.all(hosts.map((host) => host.stop()));
  });

  /** A flood relayed by `from` to a host, as a peer would send it. */
  function relayed(from: Identity, fields: Partial<FloodRequest>): FloodRequest {
    return {
      sender: { peerId: from.peerId, address: '127.0.0.1:1' },
      messageId: randomUUID(),
      ttl: MAX_TTL,
      hops: 1,
      payload: Buffer.from('flood'),
      originPeerId: from.peerId,
      ...fields,
    };
  }

  it('refuses a TTL above maxFloodTtlHops, and hops outside 1..ttl, with INVALID_ARGUMENT', async () => {
    const flooder = generateIdentity();
    const client = hostClient(hosts[0].address);
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const outcomes = [
      { code: await codeOf(apps[0].flood(Buffer.from('x'), { ttl: MAX_TTL + 1 })) },
      await attempt(client, client.flood, relayed(flooder, { messageId: ids[0], ttl: MAX_TTL + 1 })),
      await attempt(client, client.flood, relayed(flooder, { messageId: ids[1], ttl: 2 ** 32 - 1 })),
      await attempt(client, client.flood, relayed(flooder, { messageId: ids[2], hops: 0 })),
      await attempt(client, client.flood, relayed(flooder, { messageId: ids[3], ttl: 4, hops: 5 })),
    ];
    client.close();
    console.info(
      `Flood TTL cap: ttl ${MAX_TTL + 1} from the application, ttl ${MAX_TTL + 1} and 2^32-1 relayed, hops 0 and hops > ttl ` +
        `-> ${formatCounts(countCodes(outcomes))} (maxFloodTtlHops ${MAX_TTL})`,
    );
    expect(outcomes.map((o) => o.code)).toEqual(Array(outcomes.length).fill('INVALID_ARGUMENT'));
    // None of them went anywhere.
    for (const ids_ of received) for (const id of ids) expect(ids_.has(id)).toBe(false);
  });

  it('at the largest TTL, delivers each flood id once per host however often it is sent', async () => {
    const flooder = generateIdentity();
    const ids = Array.from({ length: DISTINCT }, () => randomUUID());
    const entries = hosts.slice(0, 3).map((host) => hostClient(host.address));
    const duplicatesBefore = hosts.reduce((n, h) => n + h.node.stats.floodDuplicates, 0);
    const outcomes = [];
    for (let copy = 0; copy < COPIES; copy++) {
      for (const client of entries) {
        outcomes.push(
          ...(await Promise.all(
            ids.map((messageId) => attempt(client, client.flood, relayed(flooder, { messageId }))),
          )),
        );
      }
    }
    entries.forEach((client) => client.close());
    await waitUntil(
      () => received.every((got) => ids.every((id) => got.has(id))),
      10_000,
      'every flood to reach every host',
    );
    const deliveries = received.map((got) => ids.reduce((n, id) => n + (got.get(id) ?? 0), 0));
    const duplicates = hosts.reduce((n, h) => n + h.node.stats.floodDuplicates, 0) - duplicatesBefore;
    console.info(
      `Flood at ttl ${MAX_TTL}: ${DISTINCT} ids x ${COPIES} copies into ${entries.length} hosts (${outcomes.length} calls: ` +
        `${formatCounts(countCodes(outcomes))}) -> deliveries per host ${deliveries.join(', ')} (each id once), ` +
        `${duplicates} copies dropped as duplicates`,
    );
    expect(outcomes.every((o) => o.code === 'OK')).toBe(true);
    for (const got of received) for (const id of ids) expect(got.get(id)).toBe(1);
    expect(duplicates).toBeGreaterThanOrEqual(outcomes.length - DISTINCT);
  });

  it('past peerCallsPerSecond answers RESOURCE_EXHAUSTED, and a refused flood is delivered nowhere', async () => {
    const flooder = generateIdentity();
    const client = hostClient(hosts[0].address);
    const requests = Array.from({ length: STORM }, () => relayed(flooder, {}));
    const started = performance.now();
    const outcomes = await Promise.all(requests.map((request) => attempt(client, client.flood, request)));
    const elapsedS = (performance.now() - started) / 1_000;
    client.close();
    const accepted = requests.filter((_, i) => outcomes[i].code === 'OK').map((r) => r.messageId);
    const refused = requests.filter((_, i) => outcomes[i].code !== 'OK').map((r) => r.messageId);
    for (const o of outcomes.filter((o) => o.code === 'RESOURCE_EXHAUSTED')) expect(o.details).toContain('per second');
    await waitUntil(
      () => accepted.every((id) => received[0].has(id)),
      10_000,
      'the accepted floods to reach the entry host',
    );
    // Let the accepted ones travel on before counting what the other hosts got.
    await waitUntil(
      () => received.slice(1).every((got) => accepted.filter((id) => got.has(id)).length >= accepted.length / 2),
      10_000,
      'the accepted floods to travel on',
    ).catch(() => undefined);
    const delivered = received.map((got) => accepted.filter((id) => got.has(id)).length);
    const bound = 2 * RATE + Math.ceil(RATE * elapsedS);
    console.info(
      `Flood storm: ${STORM} floods at ttl ${MAX_TTL} from one peer in ${elapsedS.toFixed(2)} s -> ` +
        `${formatCounts(countCodes(outcomes))} (peerCallsPerSecond ${RATE}, burst ${2 * RATE}; bound ${bound}); ` +
        `delivered per host ${delivered.join(', ')} of ${accepted.length} accepted, 0 of ${refused.length} refused`,
    );
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThanOrEqual(bound);
    expect(countCodes(outcomes).get('RESOURCE_EXHAUSTED')).toBe(refused.length);
    expect(delivered[0]).toBe(accepted.length);
    for (const got of received) {
      for (const id of refused) expect(got.has(id)).toBe(false);
      for (const id of accepted) expect(got.get(id) ?? 1).toBe(1);
    }
  });
});
