/**
 * The push-pull notice over real gRPC: a host whose neighbours change sends each neighbour its
 * record and neighbour list on its Push stream (a push-pull that wants no answer), saying that it
 * holds the link. The receiver takes a link it does not hold back while it has room.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { generateIdentity } from '../../services/common/identity';
import { signRecord } from '../../services/common/records';
import { Registry } from '../../services/common/metrics';
import { ExchangeKind, type HostServiceClient, type PushRequest } from '../../services/gen/grapevine/v1/host';
import type { RunningHost } from '../../services/host/server';
import { hostClient, startTestHost, waitUntil } from '../support/hosts';
import { recordFields } from '../support/records';

function pushed(client: HostServiceClient, messages: PushRequest[]): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const stream = client.push(new Metadata(), { deadline: Date.now() + 5_000 }, (error) =>
      resolve({ code: error?.code ?? status.OK, details: error?.details ?? '' }),
    );
    for (const message of messages) stream.write(message);
    stream.end();
  });
}

describe('push-pull notices', () => {
  const registries = [new Registry(), new Registry(), new Registry()];
  const hosts: RunningHost[] = [];

  beforeAll(async () => {
    hosts.push(await startTestHost({}, undefined, { registry: registries[0] }));
    for (const registry of registries.slice(1)) {
      hosts.push(await startTestHost({ seeds: [hosts[0]!.address] }, undefined, { registry }));
    }
    await waitUntil(() => hosts.every((h) => h.node.activeCount === 2), 10_000, 'three hosts linked');
  });

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
  });

  it('travel as notices: a host drops none of the push-pulls its view changes send', async () => {
    // A view change is told at the next probe tick: let two pass.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    let dropped = 0;
    for (const registry of registries) {
      const metric = await registry.getSingleMetric('grapevine_host_answers_dropped_total')?.get();
      dropped += metric?.values.find((v) => v.labels.type === 'push-pull')?.value ?? 0;
    }
    expect(dropped).toBe(0);
  });

  it('a notice claiming a link the host does not hold is taken in while there is room', async () => {
    const a = hosts[0]!;
    const identity = generateIdentity();
    const address = '127.0.0.1:1';
    const record = signRecord(identity, recordFields({ addresses: [address], seq: Date.now() }));
    const client = hostClient(a.address);
    const notice = (neighbor: boolean): PushRequest => ({
      message: {
        $case: 'exchangePeers',
        value: {
          sender: { peerId: identity.peerId, address },
          kind: ExchangeKind.EXCHANGE_KIND_PUSH_PULL_NOTICE,
          records: [record],
          incarnations: [],
          ttl: 0,
          neighbor,
        },
      },
    });
    try {
      expect((await pushed(client, [notice(false)])).code).toBe(status.OK);
      expect(a.node.activeView()).not.toContain(identity.peerId);
      expect((await pushed(client, [notice(true)])).code).toBe(status.OK);
      expect(a.node.activeView()).toContain(identity.peerId);

      const missing = await pushed(client, [
        { message: { $case: 'exchangePeers', value: { ...notice(true).message!.value, records: [] } } } as PushRequest,
      ]);
      expect(missing.code).toBe(status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });
});
