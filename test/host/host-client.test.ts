/**
 * The typed Host client against three real hosts in this process: direct messages and floods
 * arrive on the other hosts' Receive iterators, Peers lists verified records, and refusals keep
 * their gRPC status.
 */
import { ServiceError, status } from '@grpc/grpc-js';
import { HostClient, ReceivedMessage } from '../../services/client/host-client';
import { generateIdentity } from '../../services/common/identity';
import { DEFAULT_MAX_FLOOD_TTL_HOPS } from '../../services/host/config';
import type { RunningHost } from '../../services/host/server';
import { freePort } from '../support/free-port';
import { startTestHost, startTestHosts, waitUntil } from '../support/hosts';

const MAX_PAYLOAD_BYTES = 1_024;

interface Receiving {
  readonly messages: ReceivedMessage[];
  /** Resolves with the first message matching, or fails after timeoutMs. */
  waitFor(match: (message: ReceivedMessage) => boolean, what: string, timeoutMs?: number): Promise<ReceivedMessage>;
  /** Settles when the iterator ends: resolves when it ended cleanly, rejects with what it threw. */
  readonly ended: Promise<void>;
  /** Aborts the stream and waits for the iterator to end. */
  stop(): Promise<void>;
}

/** Collects one client's Receive stream in the background. */
function startReceiving(client: HostClient): Receiving {
  const messages: ReceivedMessage[] = [];
  const abort = new AbortController();
  const done = (async () => {
    for await (const message of client.receive({ signal: abort.signal })) messages.push(message);
  })();
  // Marked handled here; callers that care await `ended`.
  done.catch(() => undefined);
  const find = (match: (message: ReceivedMessage) => boolean) => messages.find(match);
  return {
    messages,
    ended: done,
    waitFor: async (match, what, timeoutMs = 10_000) => {
      await waitUntil(() => find(match) !== undefined, timeoutMs, what);
      return find(match)!;
    },
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/**
 * Receive says nothing when the host has taken the stream in, so send to the host itself until
 * one of those messages comes back on the stream.
 */
async function untilSubscribed(client: HostClient, self: string, receiving: Receiving): Promise<void> {
  const until = Date.now() + 10_000;
  for (let attempt = 0; ; attempt++) {
    const id = await client.send(self, Buffer.from('ready'), `ready-${attempt}`);
    try {
      await receiving.waitFor((m) => m.messageId === id, 'the receive stream to be subscribed', 500);
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
    }
  }
}

async function callError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded but an error was expected');
}

const text = (message: ReceivedMessage) => Buffer.from(message.payload).toString('utf8');

describe('HostClient against three hosts', () => {
  let hosts: RunningHost[];
  let clients: HostClient[];
  let inboxes: Receiving[];
  let a: RunningHost;
  let b: RunningHost;
  let c: RunningHost;

  beforeAll(async () => {
    // maxFloodTtlHops stays at its default: below the profile's default flood TTL, peers would
    // refuse every flood sent without a ttl.
    hosts = await startTestHosts(3, { maxPayloadBytes: MAX_PAYLOAD_BYTES, shutdownGraceMs: 500 });
    [a, b, c] = hosts;
    clients = hosts.map((host) => new HostClient(host.appAddress!, { deadlineMs: 3_000 }));
    await waitUntil(
      () => a.node.activeView().includes(b.peerId) && a.node.activeView().includes(c.peerId),
      15_000,
      'b and c to become neighbours of a',
    );
    inboxes = clients.map(startReceiving);
    await Promise.all(hosts.map((host, i) => untilSubscribed(clients[i], host.peerId, inboxes[i])));
  });

  afterAll(async () => {
    // Open Receive streams would hold each host's stop for its whole grace period.
    await Promise.all((inboxes ?? []).map((inbox) => inbox.stop()));
    (clients ?? []).forEach((client) => client.close());
    await Promise.all((hosts ?? []).map((host) => host.stop()));
  });

  it('delivers a send to the named peer as a direct message from the sender', async () => {
    const id = await clients[0].send(b.peerId, Buffer.from('hello b'));
    expect(id).not.toBe('');
    const message = await inboxes[1].waitFor((m) => m.messageId === id, 'the direct message on b');
    expect(message).toMatchObject({ kind: 'direct', fromPeerId: a.peerId, hops: 1 });
    expect(text(message)).toBe('hello b');
    expect(message.receivedAtMs).toBeGreaterThan(Date.now() - 60_000);
    expect(inboxes[2].messages.find((m) => m.messageId === id)).toBeUndefined();
  });

  it('keeps a message id the caller chose', async () => {
    const id = await clients[0].send(c.peerId, Buffer.from('with an id'), 'chosen-id-1');
    expect(id).toBe('chosen-id-1');
    const message = await inboxes[2].waitFor((m) => m.messageId === 'chosen-id-1', 'the direct message on c');
    expect(text(message)).toBe('with an id');
  });

  it('floods to every other host, each seeing the origin and the hops travelled', async () => {
    const id = await clients[0].flood(Buffer.from('news for all'));
    for (const inbox of [inboxes[1], inboxes[2]]) {
      const message = await inbox.waitFor((m) => m.messageId === id, 'the flood');
      expect(message).toMatchObject({ kind: 'flood', fromPeerId: a.peerId });
      expect(message.hops).toBeGreaterThanOrEqual(1);
      expect(text(message)).toBe('news for all');
    }
  });

  it('floods with a chosen ttl and message id', async () => {
    const id = await clients[1].flood(Buffer.from('short reach'), { ttl: 2, messageId: 'flood-chosen-1' });
    expect(id).toBe('flood-chosen-1');
    const message = await inboxes[0].waitFor((m) => m.messageId === id, 'the flood on a');
    expect(message).toMatchObject({ kind: 'flood', fromPeerId: b.peerId });
    expect(message.hops).toBeLessThanOrEqual(2);
  });

  it('lists the neighbours in the active view with their verified records', async () => {
    const peers = await clients[0].peers();
    expect(peers.peerId).toBe(a.peerId);
    expect(peers.address).toBe(a.address);
    expect(peers.record.peerId).toBe(a.peerId);
    for (const other of [b, c]) {
      const peer = peers.peers.find((p) => p.peerId === other.peerId);
      expect(peer).toMatchObject({ peerId: other.peerId, address: other.address, view: 'active', suspected: false });
      expect(peer?.record?.peerId).toBe(other.peerId);
      expect(peer?.record?.addresses).toEqual([other.address]);
      expect(peer?.signed?.signature.length).toBe(64);
    }
  });

  it('refuses a send to a peer the host does not know with NOT_FOUND', async () => {
    const error = await callError(clients[0].send(generateIdentity().peerId, Buffer.from('x')));
    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toMatch(/not in this host's views/);
  });

  it('refuses a send to something that is not a peer id with INVALID_ARGUMENT', async () => {
    const error = await callError(clients[0].send('not-a-peer', Buffer.from('x')));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(/is not a peer id/);
  });

  it('refuses a flood ttl above maxFloodTtlHops with INVALID_ARGUMENT', async () => {
    const error = await callError(clients[0].flood(Buffer.from('x'), { ttl: DEFAULT_MAX_FLOOD_TTL_HOPS + 1 }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toMatch(`above the maximum of ${DEFAULT_MAX_FLOOD_TTL_HOPS} hops`);
  });

  it('refuses payloads above maxPayloadBytes with RESOURCE_EXHAUSTED', async () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1);
    const send = await callError(clients[0].send(b.peerId, big));
    expect(send.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(send.details).toMatch(/at most 1024/);
    const flood = await callError(clients[0].flood(big));
    expect(flood.code).toBe(status.RESOURCE_EXHAUSTED);
  });
});

describe('HostClient.receive', () => {
  it('yields nothing when its signal has already aborted', async () => {
    const client = new HostClient('127.0.0.1:1');
    const seen: ReceivedMessage[] = [];
    for await (const message of client.receive({ signal: AbortSignal.abort() })) seen.push(message);
    expect(seen).toEqual([]);
    client.close();
  });

  it('throws UNAVAILABLE when nothing listens at the address', async () => {
    const client = new HostClient(`127.0.0.1:${await freePort()}`);
    const error = await callError(
      (async () => {
        for await (const message of client.receive()) void message;
      })(),
    );
    expect(error.code).toBe(status.UNAVAILABLE);
    client.close();
  });

  it('ends cleanly on abort, and throws the gRPC error when the host goes away', async () => {
    const host = await startTestHost({ shutdownGraceMs: 200 });
    const client = new HostClient(host.appAddress!);
    const aborted = startReceiving(client);
    await untilSubscribed(client, host.peerId, aborted);
    await expect(aborted.stop()).resolves.toBeUndefined();

    const cut = startReceiving(client);
    await untilSubscribed(client, host.peerId, cut);
    await host.stop();
    const error = await callError(cut.ended);
    expect(typeof error.code).toBe('number');
    expect(error.code).not.toBe(status.OK);
    client.close();
  });
});

describe('a host with an appToken', () => {
  const TOKEN = 'app-s3cret';
  let host: RunningHost;

  beforeAll(async () => {
    host = await startTestHost({ appToken: TOKEN, shutdownGraceMs: 200 });
  });
  afterAll(async () => host?.stop());

  const client = (appToken?: string) => new HostClient(host.appAddress!, { deadlineMs: 3_000, appToken });
  const attempt = async <T>(appToken: string | undefined, call: (c: HostClient) => Promise<T>) => {
    const c = client(appToken);
    try {
      return await call(c);
    } finally {
      c.close();
    }
  };

  it('answers the application calls that carry the token', async () => {
    const peers = await attempt(TOKEN, (c) => c.peers());
    expect(peers.peerId).toBe(host.peerId);
    const id = await attempt(TOKEN, (c) => c.send(host.peerId, Buffer.from('to myself')));
    expect(id).not.toBe('');
  });

  it('refuses a call without the token with UNAUTHENTICATED, saying how to send it', async () => {
    const error = await callError(attempt(undefined, (c) => c.peers()));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toContain('authorization: Bearer <token>');
    expect((await callError(attempt(undefined, (c) => c.flood(Buffer.from('x'))))).code).toBe(status.UNAUTHENTICATED);
  });

  it('refuses a wrong token with PERMISSION_DENIED, on Receive too', async () => {
    expect((await callError(attempt('not-it', (c) => c.send(host.peerId, Buffer.from('x'))))).code).toBe(
      status.PERMISSION_DENIED,
    );
    const error = await callError(
      attempt('not-it', async (c) => {
        for await (const message of c.receive()) return message;
      }),
    );
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toBe("the token does not match this host's appToken");
  });

  it('asks nothing of peers on the peer port', async () => {
    // Peers never hold the application's secret: a records-only Handshake goes through.
    const other = await startTestHost({ shutdownGraceMs: 200, seeds: [host.address] });
    try {
      await waitUntil(() => host.node.activeView().includes(other.peerId), 15_000, 'the peer to be taken in');
    } finally {
      await other.stop();
    }
  });
});
