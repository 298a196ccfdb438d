/**
 * Every role over mutual TLS, the way an operator with one CA would run them: a directory, an
 * introducer and two hosts, each presenting a certificate of the test CA and refusing callers
 * without one. Hosts join through the introducer and register; a client without a certificate,
 * or a plaintext one, gets nothing; the terminal commands take the same TLS flags.
 */
import { ChannelCredentials, ServiceError, status } from '@grpc/grpc-js';
import { DirectoryClient } from '../../services/client/directory-client';
import { HostClient } from '../../services/client/host-client';
import { channelCredentials, type TlsSettings } from '../../services/common/tls';
import type { RunningHost } from '../../services/host/server';
import type { RunningIntroducer } from '../../services/introducer/server';
import { makeTestCa, type TestCa } from '../support/certs';
import { startTestDirectory, type TestDirectory } from '../support/directory';
import { startTestHost, waitUntil } from '../support/hosts';
import { startTestIntroducer } from '../support/introducers';
import { runGrapevine } from '../support/processes';

describe('the roles over mutual TLS', () => {
  let ca: TestCa;
  let tls: TlsSettings;
  let dir: TestDirectory;
  let introducer: RunningIntroducer;
  const hosts: RunningHost[] = [];
  let client: DirectoryClient;

  beforeAll(async () => {
    ca = makeTestCa();
    const leaf = ca.issue('member');
    tls = {
      plaintext: false,
      tlsCertFile: leaf.certFile,
      tlsKeyFile: leaf.keyFile,
      tlsCaFile: ca.caFile,
      tlsClientAuth: true,
    };
    dir = await startTestDirectory({ ...tls, introducerToken: 'tls-token' });
    client = new DirectoryClient(dir.address, { credentials: channelCredentials(tls) });
    introducer = await startTestIntroducer(dir.address, { ...tls, introducerToken: 'tls-token' });
    for (let i = 0; i < 2; i++) {
      hosts.push(await startTestHost({ ...tls, seeds: [introducer.address], directory: dir.address }));
    }
  });

  afterAll(async () => {
    client?.close();
    await Promise.all(hosts.map((host) => host.stop()));
    await introducer?.stop();
    await dir?.stop();
    ca.remove();
  });

  it('hosts join through the introducer and register, all over mutual TLS', async () => {
    const want = [...hosts.map((h) => h.peerId), introducer.peerId].sort();
    await waitUntil(
      async () =>
        JSON.stringify((await client.listAll('default')).peers.map((p) => p.record.peerId).sort()) ===
        JSON.stringify(want),
      15_000,
      'both hosts and the introducer listed',
    );
    await waitUntil(() => hosts.every((h) => h.node.activeCount > 0), 10_000, 'each host to have a neighbour');
  });

  it('refuses a client without a certificate, and a plaintext one', async () => {
    const codeOf = async (credentials: ChannelCredentials) => {
      const c = new DirectoryClient(dir.address, { credentials, deadlineMs: 2_000 });
      try {
        await c.listAll('default');
        return status.OK;
      } catch (error) {
        return (error as ServiceError).code;
      } finally {
        c.close();
      }
    };
    expect(await codeOf(channelCredentials({ ...tls, tlsCertFile: '', tlsKeyFile: '', tlsClientAuth: false }))).toBe(
      status.UNAVAILABLE,
    );
    expect(await codeOf(ChannelCredentials.createInsecure())).toBe(status.UNAVAILABLE);
  });

  it('a host carries a flood to the other over TLS', async () => {
    const [from, to] = hosts;
    const receiver = new HostClient(to.appAddress!, { credentials: channelCredentials(tls) });
    const sender = new HostClient(from.appAddress!, { credentials: channelCredentials(tls) });
    const abort = new AbortController();
    const got: string[] = [];
    const receiving = (async () => {
      for await (const m of receiver.receive({ signal: abort.signal })) got.push(Buffer.from(m.payload).toString());
    })();
    try {
      await waitUntil(
        async () => {
          await sender.flood(Buffer.from('over-tls'));
          return got.includes('over-tls');
        },
        10_000,
        'the flood to arrive',
      );
    } finally {
      abort.abort();
      await receiving.catch(() => undefined);
      receiver.close();
      sender.close();
    }
  });

  it('the terminal commands take the TLS flags, and refuse a contradiction', async () => {
    // The tests' environment chooses plaintext; these commands must choose for themselves. They
    // run beside this process (not synchronously): the directory they call lives in it.
    const env = { GRAPEVINE_PLAINTEXT: undefined };
    const run = async (args: string[]) => {
      const command = runGrapevine(args, env);
      const code = await command.exited();
      return { code, output: command.output() };
    };
    const listed = await run([
      'peers',
      'list',
      '--directory',
      dir.address,
      '--tls-ca-file',
      ca.caFile,
      '--tls-cert-file',
      tls.tlsCertFile,
      '--tls-key-file',
      tls.tlsKeyFile,
      '--output',
      'json',
    ]);
    expect(listed.code).toBe(0);
    expect(listed.output.split('\n').filter((line) => line.startsWith('{"peerId"'))).toHaveLength(3);
    const contradiction = await run([
      'peers',
      'list',
      '--directory',
      dir.address,
      '--plaintext',
      '--tls-ca-file',
      ca.caFile,
    ]);
    expect(contradiction.code).toBe(2);
    expect(contradiction.output).toMatch(/tlsCaFile is set but plaintext is true/);
  });
});
