/**
 * The transport compliance suite over real gRPC: five `grapevine host` processes on loopback,
 * driven through their Flood, Receive and Peers RPCs; a crash is a SIGKILL.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import { MessageKind, PeerView, type ReceiveResponse } from '../../services/gen/grapevine/v1/host';
import { call, startHostProcess, type HostProcess } from '../support/hosts';
import { describeTransportCompliance, type ComplianceCluster } from '../membership/transport-compliance';

async function processCluster(size: number): Promise<ComplianceCluster> {
  const first = await startHostProcess([]);
  const rest = await Promise.all(Array.from({ length: size - 1 }, () => startHostProcess(['--seeds', first.address])));
  const hosts: HostProcess[] = [first, ...rest];
  const received: string[][] = hosts.map(() => []);
  const streams: ClientReadableStream<ReceiveResponse>[] = hosts.map((host, i) => {
    const stream = host.app.receive({});
    stream.on('data', (message: ReceiveResponse) => {
      if (message.kind === MessageKind.MESSAGE_KIND_FLOOD) received[i].push(message.payload.toString());
    });
    stream.on('error', () => {});
    return stream;
  });
  return {
    ids: hosts.map((h) => h.peerId),
    settle: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    views: async (i) => {
      const response = await call(hosts[i].app, hosts[i].app.peers, {});
      const of = (view: PeerView) => response.peers.filter((p) => p.view === view).map((p) => p.peerId);
      return { active: of(PeerView.PEER_VIEW_ACTIVE), passive: of(PeerView.PEER_VIEW_PASSIVE) };
    },
    flood: async (i, text) => {
      await call(hosts[i].app, hosts[i].app.flood, {
        messageId: '',
        ttl: 0,
        hops: 0,
        payload: Buffer.from(text),
        originPeerId: '',
      });
    },
    received: (i) => received[i],
    crash: async (i) => {
      streams[i].cancel();
      hosts[i].process.child.kill('SIGKILL');
      await hosts[i].process.exited();
    },
    stop: async () => {
      for (const stream of streams) stream.cancel();
      for (const host of hosts) {
        host.client.close();
        host.process.child.kill('SIGTERM');
      }
      await Promise.all(hosts.map((h) => h.process.exited()));
    },
  };
}

describeTransportCompliance('gRPC between host processes', processCluster, 60_000);
