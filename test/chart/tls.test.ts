/**
 * The chart's TLS, on helm 3 and helm 4: the certificate it generates names every address the
 * roles and the test pod dial (checked with Node's own server-identity check, the one grpc-js
 * relies on) and nothing else in the cluster, chains to the CA it ships, and serves both ends of
 * a mutual TLS handshake; an upgrade keeps it, or signs a new one with the same CA when its names
 * change or it nears its end; NOTES.txt gives the TLS flags, or warns that traffic is plaintext.
 *
 * `lookup` answers nothing without a cluster, so the upgrade cases render the Secret's template
 * in a copy of the chart, handing it the Secret a previous render made, as `lookup` would.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, connect, createServer, type TLSSocket } from 'node:tls';
import {
  CHART_DIR,
  HELMS,
  K8sObject,
  NAMESPACE,
  RELEASE,
  component,
  ensureHelm,
  ofKind,
  parseManifests,
  runHelm,
  template,
  type HelmName,
} from './helm';

const DOMAIN = `${NAMESPACE}.svc.cluster.local`;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 86_400_000;

interface TlsMaterial {
  readonly secret: K8sObject;
  readonly cert: X509Certificate;
  readonly ca: X509Certificate;
  readonly key: KeyObject;
  readonly pem: { cert: string; key: string; ca: string };
}

function tlsSecret(objects: readonly K8sObject[]): K8sObject {
  const secrets = ofKind(objects, 'Secret').filter((secret) => secret.type === 'kubernetes.io/tls');
  expect(secrets).toHaveLength(1);
  return secrets[0];
}

function material(secret: K8sObject): TlsMaterial {
  const text = (key: string) => Buffer.from(secret.data[key], 'base64').toString('utf8');
  const pem = { cert: text('tls.crt'), key: text('tls.key'), ca: text('ca.crt') };
  return {
    secret,
    cert: new X509Certificate(pem.cert),
    ca: new X509Certificate(pem.ca),
    key: createPrivateKey(pem.key),
    pem,
  };
}

/** Why `name` would be refused for this certificate, or undefined when a client accepts it. */
function refusal(cert: X509Certificate, name: string): string | undefined {
  return checkServerIdentity(name, cert.toLegacyObject())?.message;
}

function hostOf(address: string): string {
  return address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.replace(/:\d+$/, '');
}

/**
 * Every host name a role or the test pod dials inside the cluster (or a person through NOTES.txt):
 * the directory and seeds of each role, each member's advertised address for its first and last
 * pod, the test's --directory, and each form of the directory's and introducers' Service names.
 */
function dialledNames(objects: readonly K8sObject[]): string[] {
  const names = new Set<string>(['localhost']);
  for (const set of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'StatefulSet')]) {
    if (!['directory', 'introducer', 'host'].includes(component(set)!)) continue;
    const env = new Map<string, string>(
      set.spec.template.spec.containers[0].env.map((entry: any) => [entry.name, entry.value]),
    );
    for (const address of [env.get('GRAPEVINE_DIRECTORY'), ...(env.get('GRAPEVINE_SEEDS') ?? '').split(',')]) {
      if (address && hostOf(address).endsWith(DOMAIN)) names.add(hostOf(address));
    }
    // The in-chart Redis, when the directory dials it over TLS.
    const redis = /^rediss:\/\/(?:[^@]*@)?([^:/]+)/.exec(env.get('GRAPEVINE_REDIS_URL') ?? '');
    if (redis && redis[1].endsWith(DOMAIN)) names.add(redis[1]);
    const advertised = env.get('GRAPEVINE_ADVERTISE_ADDRESS');
    if (advertised) {
      for (const ordinal of [0, set.spec.replicas - 1]) {
        names.add(hostOf(advertised.replace('$(POD_NAME)', `${set.metadata.name}-${ordinal}`)));
      }
    }
  }
  for (const pod of ofKind(objects, 'Pod')) {
    const args: string[] = pod.spec.containers[0].args;
    names.add(hostOf(args[args.indexOf('--directory') + 1]));
  }
  for (const service of ofKind(objects, 'Service')) {
    if (!['directory', 'introducer'].includes(component(service)!) || service.spec.clusterIP === 'None') continue;
    const name = service.metadata.name;
    for (const form of [name, `${name}.${NAMESPACE}`, `${name}.${NAMESPACE}.svc`, `${name}.${DOMAIN}`]) names.add(form);
  }
  return [...names].sort();
}

/** A copy of the chart with extra templates, for what `helm template` cannot show by itself. */
class ChartCopy {
  readonly dir = mkdtempSync(join(tmpdir(), 'grapevine-chart-'));

  constructor() {
    const chart = join(this.dir, 'grapevine');
    cpSync(CHART_DIR, chart, { recursive: true });
    // NOTES.txt is parsed with the other templates, so another template can include it.
    writeFileSync(
      join(chart, 'templates', 'zz-notes.yaml'),
      'notes: {{ include "grapevine/templates/NOTES.txt" . | toJson }}\n',
    );
    // The generated Secret as an upgrade makes it, given the Secret the cluster holds.
    writeFileSync(
      join(chart, 'templates', 'zz-upgrade.yaml'),
      '{{- with .Files.Get "previous-tls-secret.json" }}\n' +
        '{{- include "grapevine.tlsSecret" (dict "root" $ "existing" (fromJson .)) }}\n' +
        '{{- end }}\n',
    );
  }

  get chart(): string {
    return join(this.dir, 'grapevine');
  }

  render(helm: HelmName, show: string, args: readonly string[]): string {
    const result = runHelm(helm, [
      'template',
      RELEASE,
      this.chart,
      '--namespace',
      NAMESPACE,
      '--show-only',
      show,
      ...args,
    ]);
    if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
    return result.stdout;
  }

  notes(helm: HelmName, args: readonly string[] = []): string {
    return (parseManifests(this.render(helm, 'templates/zz-notes.yaml', args))[0] as any).notes;
  }

  /** The Secret an upgrade writes when the cluster holds `previous`. */
  upgrade(helm: HelmName, previous: K8sObject, args: readonly string[] = []): K8sObject {
    writeFileSync(join(this.chart, 'previous-tls-secret.json'), JSON.stringify(previous));
    return parseManifests(this.render(helm, 'templates/zz-upgrade.yaml', args))[0];
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One TLS handshake on loopback, checked as a member checks `name`, with client certificates. */
async function mutualHandshake(server: TlsMaterial, client: TlsMaterial, name: string): Promise<string> {
  const listener = createServer(
    { cert: server.pem.cert, key: server.pem.key, ca: server.pem.ca, requestCert: true, rejectUnauthorized: true },
    (socket) => socket.end('ok'),
  );
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket: TLSSocket = connect({
        host: '127.0.0.1',
        port,
        servername: name,
        ca: client.pem.ca,
        cert: client.pem.cert,
        key: client.pem.key,
      });
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  } finally {
    listener.close();
  }
}

let copy: ChartCopy;

beforeAll(() => {
  ensureHelm();
  copy = new ChartCopy();
}, 300_000);

afterAll(() => copy?.remove());

describe.each(HELMS.map((helm) => helm.name))('%s', (helm) => {
  const exposed = ['--values', join(CHART_DIR, 'ci', 'introducer-exposed-values.yaml')];

  describe.each([
    ['default values', [] as string[]],
    ['an exposed introducer', exposed],
  ])('the generated certificate, with %s', (_name, args) => {
    let objects: K8sObject[];
    let tls: TlsMaterial;

    beforeAll(() => {
      objects = template(helm, args);
      tls = material(tlsSecret(objects));
    });

    test('names every address the roles, the test and NOTES.txt dial, and no other', () => {
      const names = dialledNames(objects);
      expect(names.length).toBeGreaterThan(10);
      for (const name of names)
        expect({ name, refused: refusal(tls.cert, name) }).toEqual({ name, refused: undefined });
      // Port-forwards dial localhost; a scaled-out StatefulSet's new pods are covered as well.
      expect(refusal(tls.cert, '127.0.0.1')).toBeUndefined();
      expect(
        refusal(tls.cert, `${RELEASE}-grapevine-introducer-7.${RELEASE}-grapevine-introducer-headless.${DOMAIN}`),
      ).toBeUndefined();
      for (const stranger of [
        '10.244.1.7', // a pod IP: why members advertise names
        `${RELEASE}-grapevine-redis.${NAMESPACE}`, // the directory dials the Redis Service by its full name
        `${RELEASE}-grapevine-directory.elsewhere.svc.cluster.local`,
        `a.${RELEASE}-grapevine-host-0.${RELEASE}-grapevine-host.${DOMAIN}`, // wildcards cover one label
        'example.org',
      ]) {
        expect({ stranger, refused: refusal(tls.cert, stranger) }).toEqual({ stranger, refused: expect.any(String) });
      }
    });

    test('is signed by the CA it ships, matches its key and serves as server and client', () => {
      expect(tls.ca.ca).toBe(true);
      expect(tls.cert.ca).toBe(false);
      expect(tls.cert.checkIssued(tls.ca)).toBe(true);
      expect(tls.cert.verify(tls.ca.publicKey)).toBe(true);
      const der = (key: KeyObject) => key.export({ type: 'spki', format: 'der' });
      expect(der(createPublicKey(tls.key))).toEqual(der(tls.cert.publicKey));
      expect(tls.cert.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
      const daysLeft = (cert: X509Certificate) => (Date.parse(cert.validTo) - Date.now()) / DAY_MS;
      expect(daysLeft(tls.cert)).toBeGreaterThan(364);
      expect(daysLeft(tls.cert)).toBeLessThan(366);
      expect(daysLeft(tls.ca)).toBeGreaterThan(3649);
    });

    test('carries a pod of each member StatefulSet through a mutual TLS handshake', async () => {
      for (const set of ofKind(objects, 'StatefulSet').filter((s) => ['host', 'introducer'].includes(component(s)!))) {
        const name = `${set.metadata.name}-0.${set.spec.serviceName}.${DOMAIN}`;
        expect(await mutualHandshake(tls, tls, name)).toBe('ok');
      }
    });
  });

  test('names the in-chart Redis while it speaks TLS, and not with redis.tls.enabled false', () => {
    const redis = `${RELEASE}-grapevine-redis.${DOMAIN}`;
    expect(refusal(material(tlsSecret(template(helm))).cert, redis)).toBeUndefined();
    const plain = template(helm, ['--set', 'redis.tls.enabled=false']);
    expect(refusal(material(tlsSecret(plain)).cert, redis)).toEqual(expect.any(String));
    expect(dialledNames(plain)).not.toContain(redis);
  });

  test('the names from tls.generated go into the certificate', () => {
    const { cert } = material(tlsSecret(template(helm, exposed)));
    expect(refusal(cert, 'join.grapevine.example.org')).toBeUndefined();
    expect(refusal(cert, '203.0.113.10')).toBeUndefined();
    expect(refusal(material(tlsSecret(template(helm))).cert, 'join.grapevine.example.org')).toEqual(expect.any(String));
  });

  describe('an upgrade', () => {
    let first: K8sObject;

    beforeAll(() => {
      first = tlsSecret(template(helm));
    });

    const withAnnotation = (key: string, value: string): K8sObject => ({
      ...first,
      metadata: { ...first.metadata, annotations: { ...first.metadata.annotations, [key]: value } },
    });
    const inDays = (days: number) => new Date(Date.now() + days * DAY_MS).toISOString().replace(/\.\d+Z$/, 'Z');

    test('with the same names keeps the certificate, its key and the CA', () => {
      const next = copy.upgrade(helm, first);
      expect(next.data).toEqual(first.data);
      expect(next.metadata.annotations).toEqual(first.metadata.annotations);
    });

    test('with a new name signs a new certificate with the same CA, which the old one trusts', async () => {
      const next = copy.upgrade(helm, first, ['--set', 'tls.generated.extraDnsNames={join.example.org}']);
      expect(next.data['ca.crt']).toBe(first.data['ca.crt']);
      expect(next.data['ca.key']).toBe(first.data['ca.key']);
      expect(next.data['tls.crt']).not.toBe(first.data['tls.crt']);
      const renewed = material(next);
      expect(refusal(renewed.cert, 'join.example.org')).toBeUndefined();
      expect(renewed.cert.checkIssued(material(first).ca)).toBe(true);
      // Mid-rollout, a pod with the new files and one with the old still talk, both ways.
      const name = `${RELEASE}-grapevine-host-0.${RELEASE}-grapevine-host.${DOMAIN}`;
      expect(await mutualHandshake(renewed, material(first), name)).toBe('ok');
      expect(await mutualHandshake(material(first), renewed, name)).toBe('ok');
    });

    test('within renewBeforeDays of the certificate’s end signs a new one with the same CA', () => {
      const next = copy.upgrade(helm, withAnnotation('grapevine/certificate-not-after', inDays(10)));
      expect(next.data['ca.crt']).toBe(first.data['ca.crt']);
      expect(next.data['tls.crt']).not.toBe(first.data['tls.crt']);
      expect(Date.parse(next.metadata.annotations!['grapevine/certificate-not-after'])).toBeGreaterThan(
        Date.now() + 364 * DAY_MS,
      );
      const kept = copy.upgrade(helm, withAnnotation('grapevine/certificate-not-after', inDays(40)));
      expect(kept.data['tls.crt']).toBe(first.data['tls.crt']);
    });

    test('within renewBeforeDays of the CA’s end, or without the CA’s key, makes a new CA', () => {
      for (const previous of [
        withAnnotation('grapevine/ca-not-after', inDays(10)),
        { ...first, data: { ...first.data, 'ca.key': undefined } },
      ]) {
        const next = copy.upgrade(helm, JSON.parse(JSON.stringify(previous)));
        expect(next.data['ca.crt']).not.toBe(first.data['ca.crt']);
        const renewed = material(next);
        expect(renewed.cert.checkIssued(renewed.ca)).toBe(true);
      }
    });
  });

  describe('NOTES.txt', () => {
    test('with TLS: the commands carry the CA, and under mutual TLS the certificate', () => {
      const notes = copy.notes(helm);
      expect(notes).toContain('--tls-ca-file /etc/grapevine/tls/ca.crt');
      expect(notes).not.toContain('--tls-cert-file /etc/grapevine/tls/tls.crt');
      expect(notes).not.toMatch(/plaintext/i);
      const mutual = copy.notes(helm, ['--set', 'tls.clientAuth=true']);
      expect(mutual).toContain(
        '--tls-ca-file /etc/grapevine/tls/ca.crt --tls-cert-file /etc/grapevine/tls/tls.crt --tls-key-file /etc/grapevine/tls/tls.key',
      );
      expect(mutual).toContain('mutual TLS');
    });

    test('with an existing Secret: lists the names its certificate must carry', () => {
      const notes = copy.notes(helm, ['--set', 'tls.existingSecret=grapevine-tls']);
      expect(notes).toContain(`*.${RELEASE}-grapevine-host.${DOMAIN}`);
      expect(notes).toContain(`${RELEASE}-grapevine-redis.${DOMAIN}`);
      expect(notes).toContain(`*.${RELEASE}-grapevine-introducer-headless.${DOMAIN}`);
      expect(notes).toContain(`${RELEASE}-grapevine-directory.${DOMAIN}`);
    });

    test('without TLS: warns that traffic is plaintext, and the commands say --plaintext', () => {
      const notes = copy.notes(helm, ['--set', 'tls.enabled=false']);
      expect(notes).toMatch(/WARNING: TLS is off \(tls\.enabled=false\)/);
      expect(notes).toMatch(/PLAINTEXT/);
      expect(notes).toContain('--plaintext');
      expect(notes).not.toContain('--tls-ca-file');
    });
  });
});
