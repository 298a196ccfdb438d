/**
 * The host's directory lease against a real directory: an eviction (or an expiry) leaves a seq
 * floor, so the record the host held cannot be registered again; the host must issue a newer one
 * and register that, and its gossip must carry the newer record too.
 */
import { PeerRecord } from '../../services/common/records';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import type { RunningHost } from '../../services/host/server';

const TOKEN = 'lease-test-token';

describe('directory lease', () => {
  let dir: TestDirectory;
  let host: RunningHost;

  beforeAll(async () => {
    dir = await startTestDirectory({ introducerToken: TOKEN, minTtlSeconds: 5 });
    host = await startTestHost({ directory: dir.address, directoryTtlSeconds: 5 });
  });

  afterAll(async () => {
    await host?.stop();
    await dir?.stop();
  });

  it('registers again with a newer record after being evicted', async () => {
    await waitUntil(
      async () => (await dir.client.listAll('default')).peers.some((p) => p.record.peerId === host.peerId),
      5_000,
      'the host to register',
    );
    const first = await dir.client.resolve('default', { peerId: host.peerId });
    await dir.client.evict('default', host.peerId, first.record.seq, TOKEN);

    // The next renewal (a third of 5 s) answers NOT_FOUND; the same record is below the floor.
    let again = first;
    await waitUntil(
      async () => {
        try {
          again = await dir.client.resolve('default', { peerId: host.peerId });
          return true;
        } catch {
          return false;
        }
      },
      8_000,
      'the host to register again',
    );
    expect(again.record.seq).toBeGreaterThan(first.record.seq);
    expect(again.record.addresses).toEqual(first.record.addresses);
    // The core now speaks with the newer record.
    expect(PeerRecord.decode(host.member.record().record).seq).toBe(again.record.seq);
  });
});
