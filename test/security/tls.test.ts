/**
 * TLS and mutual TLS on real gRPC servers over loopback, with certificates each test makes
 * itself: who can connect, who cannot, and a certificate replaced on disk taken up without a
 * restart. The servers here serve grpc.health.v1 only; every role's server is built the same way.
 */
import { copyFileSync } from 'node:fs';
import { ChannelCredentials, credentials, loadPackageDefinition, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { z } from 'zod';
import { startGrpcServer, type RunningGrpcServer } from '../../services/common/grpc-server';
import { silentLogger } from '../../services/common/logging';
import { Registry } from '../../services/common/metrics';
import {
  channelCredentials,
  checkTlsFields,
  serverCredentials,
  tlsFields,
  type TlsSettings,
} from '../../services/common/tls';
import { makeTestCa, type TestCa } from '../support/certs';

const RELOAD_MS = 200;
const Health = (
  loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, creds: ChannelCredentials) => HealthClient } } };
  }
).grpc.health.v1.Health;
interface HealthClient {
  check(
    request: { service: string },
    options: { deadline: number },
    callback: (error: ServiceError | null, response?: { status: string | number }) => void,
  ): void;
  close(): void;
}

const settings = (overrides: Partial<TlsSettings>): TlsSettings => ({
  plaintext: false,
  tlsCertFile: '',
  tlsKeyFile: '',
  tlsCaFile: '',
  tlsClientAuth: false,
  ...overrides,
});

/** "SERVING", or the error code the call ended with. */
function check(address: string, creds: ChannelCredentials, serverName?: string): Promise<string> {
  const client = serverName
    ? new (Health as unknown as new (a: string, c: ChannelCredentials, o: object) => HealthClient)(address, creds, {
        'grpc.ssl_target_name_override': serverName,
      })
    : new Health(address, creds);
  return new Promise((resolve) =>
    client.check({ service: '' }, { deadline: Date.now() + 2_000 }, (error, response) => {
      client.close();
      resolve(error ? `error ${error.code}` : String(response?.status));
    }),
  );
}

describe('TLS', () => {
  let ca: TestCa;
  let other: TestCa;
  const servers: RunningGrpcServer[] = [];

  async function serve(tls: TlsSettings): Promise<string> {
    const server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      credentials: serverCredentials(tls, RELOAD_MS),
      services: [],
      registry: new Registry(),
      log: silentLogger(),
    });
    servers.push(server);
    return `127.0.0.1:${server.port}`;
  }

  beforeAll(() => {
    ca = makeTestCa('grapevine-test-ca');
    other = makeTestCa('some-other-ca');
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.shutdown(0)));
    ca.remove();
    other.remove();
  });

  it('serves TLS to a client that trusts its CA, and nothing to plaintext or untrusting clients', async () => {
    const server = ca.issue('server');
    const address = await serve(settings({ tlsCertFile: server.certFile, tlsKeyFile: server.keyFile }));
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })))).toBe('SERVING');
    expect(await check(address, credentials.createInsecure())).toMatch(/^error 14/);
    // The system's roots do not know the test CA; another CA does not either.
    expect(await check(address, channelCredentials(settings({})))).toMatch(/^error 14/);
    expect(await check(address, channelCredentials(settings({ tlsCaFile: other.caFile })))).toMatch(/^error 14/);
  });

  it('checks that the certificate names the host dialled', async () => {
    const elsewhere = ca.issue('elsewhere', { sans: ['DNS:elsewhere.example'] });
    const address = await serve(settings({ tlsCertFile: elsewhere.certFile, tlsKeyFile: elsewhere.keyFile }));
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })))).toMatch(/^error 14/);
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })), 'elsewhere.example')).toBe(
      'SERVING',
    );
  });

  it('under mutual TLS refuses callers without a certificate from its CA', async () => {
    const server = ca.issue('mtls-server');
    const address = await serve(
      settings({ tlsCertFile: server.certFile, tlsKeyFile: server.keyFile, tlsCaFile: ca.caFile, tlsClientAuth: true }),
    );
    const client = ca.issue('client');
    const stranger = other.issue('stranger');
    expect(
      await check(
        address,
        channelCredentials(
          settings({ tlsCaFile: ca.caFile, tlsCertFile: client.certFile, tlsKeyFile: client.keyFile }),
        ),
      ),
    ).toBe('SERVING');
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })))).toMatch(/^error 14/);
    expect(
      await check(
        address,
        channelCredentials(
          settings({ tlsCaFile: ca.caFile, tlsCertFile: stranger.certFile, tlsKeyFile: stranger.keyFile }),
        ),
      ),
    ).toMatch(/^error 14/);
  });

  it('takes up a certificate replaced on disk without a restart', async () => {
    const first = ca.issue('rotating');
    const address = await serve(settings({ tlsCertFile: first.certFile, tlsKeyFile: first.keyFile }));
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })))).toBe('SERVING');
    // The new certificate comes from another CA: only clients of that CA can tell it was taken up.
    const renewed = other.issue('renewed');
    copyFileSync(renewed.certFile, first.certFile);
    copyFileSync(renewed.keyFile, first.keyFile);
    const deadline = Date.now() + 20 * RELOAD_MS + 5_000;
    let status = '';
    while (Date.now() < deadline) {
      status = await check(address, channelCredentials(settings({ tlsCaFile: other.caFile }), RELOAD_MS));
      if (status === 'SERVING') break;
      await new Promise((resolve) => setTimeout(resolve, RELOAD_MS));
    }
    expect(status).toBe('SERVING');
    expect(await check(address, channelCredentials(settings({ tlsCaFile: ca.caFile })))).toMatch(/^error 14/);
  });
});

describe('TLS settings', () => {
  const schema = (role: 'server' | 'client') =>
    z.object(tlsFields).superRefine((config, context) => checkTlsFields(config, context, role));
  const problems = (role: 'server' | 'client', input: object) => {
    const result = schema(role).safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`);
  };

  test.each([
    ['a server without a certificate or plaintext', 'server', {}, /tlsCertFile: TLS needs a certificate/],
    [
      'a certificate without its key',
      'server',
      { tlsCertFile: 'a.crt' },
      /tlsKeyFile: tlsCertFile and tlsKeyFile go together/,
    ],
    ['plaintext with TLS files', 'server', { plaintext: 'true', tlsCertFile: 'a.crt' }, /choose TLS .* or plaintext/],
    [
      'mutual TLS without a CA',
      'server',
      { tlsCertFile: 'a', tlsKeyFile: 'b', tlsClientAuth: 'true' },
      /needs tlsCaFile/,
    ],
    ['mutual TLS with plaintext', 'client', { plaintext: 'true', tlsClientAuth: 'true' }, /needs TLS/],
  ] as const)('refuses %s', (_what, role, input, message) => {
    expect(problems(role, input).join('\n')).toMatch(message);
  });

  test.each([
    ['plaintext, chosen explicitly', 'server', { plaintext: 'true' }],
    ['a server certificate and key', 'server', { tlsCertFile: 'a.crt', tlsKeyFile: 'a.key' }],
    ['a client trusting the system roots', 'client', {}],
    ['a client with a CA', 'client', { tlsCaFile: 'ca.crt' }],
  ] as const)('accepts %s', (_what, role, input) => {
    expect(problems(role, input)).toEqual([]);
  });
});
