/**
 * Bad values stop `helm template` (so `helm install`) before anything reaches a cluster, with a
 * message that names the value. Checked on helm 3 and helm 4, whose validators word it differently.
 */
import { HELMS, CHART_DIR, RELEASE, ensureHelm, runHelm } from './helm';

beforeAll(() => ensureHelm(), 300_000);

/** Each bad value, and what each helm's message must say about it. */
const BAD_VALUES: { what: string; set: string[]; helm3: RegExp; helm4: RegExp }[] = [
  {
    what: 'a negative replica count',
    set: ['hosts.replicaCount=-1'],
    helm3: /hosts\.replicaCount: Must be greater than or equal to 0/,
    helm4: /at '\/hosts\/replicaCount': minimum: got -1, want 0/,
  },
  {
    what: 'a directory without replicas',
    set: ['directory.replicaCount=0'],
    helm3: /directory\.replicaCount: Must be greater than or equal to 1/,
    helm4: /at '\/directory\/replicaCount': minimum: got 0, want 1/,
  },
  {
    what: 'an unknown key at the top',
    set: ['replicas=3'],
    helm3: /Additional property replicas is not allowed/,
    helm4: /additional properties 'replicas' not allowed/,
  },
  {
    what: 'an unknown key inside a role',
    set: ['directory.replica=3'],
    helm3: /directory: Additional property replica is not allowed/,
    helm4: /at '\/directory': additional properties 'replica' not allowed/,
  },
  {
    what: 'an unknown role setting',
    set: ['hosts.config.probeIntervalMillis=100'],
    helm3: /hosts\.config: Additional property probeIntervalMillis is not allowed/,
    helm4: /at '\/hosts\/config': additional properties 'probeIntervalMillis' not allowed/,
  },
  {
    what: 'a role setting the chart sets itself',
    set: ['directory.config.redisUrl=redis://elsewhere:6379'],
    helm3: /directory\.config: Additional property redisUrl is not allowed/,
    helm4: /at '\/directory\/config': additional properties 'redisUrl' not allowed/,
  },
  {
    what: 'a role setting out of its range',
    set: ['hosts.config.maxFloodTtlHops=1000'],
    helm3: /hosts\.config\.maxFloodTtlHops: Must be less than or equal to 255/,
    helm4: /at '\/hosts\/config\/maxFloodTtlHops': maximum: got 1,000, want 255/,
  },
  {
    what: "a sidecar named as the host's own container",
    set: ['hosts.sidecars[0].name=host', 'hosts.sidecars[0].image=app:1'],
    helm3: /hosts\.sidecars\.0\.name: Must not validate the schema \(not\)/,
    helm4: /at '\/hosts\/sidecars\/0\/name': 'not' failed/,
  },
  {
    what: 'a misspelt field of a sidecar',
    set: ['hosts.sidecars[0].name=app', 'hosts.sidecars[0].image=app:1', 'hosts.sidecars[0].volumeMount=x'],
    helm3: /hosts\.sidecars\.0: Additional property volumeMount is not allowed/,
    helm4: /at '\/hosts\/sidecars\/0': additional properties 'volumeMount' not allowed/,
  },
  {
    what: "an extra volume named as one of the chart's",
    set: ['hosts.extraVolumes[0].name=data', 'hosts.extraVolumes[0].emptyDir.sizeLimit=1Mi'],
    helm3: /hosts\.extraVolumes\.0\.name: Must not validate the schema \(not\)/,
    helm4: /at '\/hosts\/extraVolumes\/0\/name': 'not' failed/,
  },
  {
    what: 'a malformed Redis URL',
    set: ['redis.enabled=false', 'externalRedis.url=http://redis.example:6379'],
    helm3: /externalRedis\.url: Does not match pattern/,
    helm4: /at '\/externalRedis\/url': 'http:\/\/redis\.example:6379' does not match pattern/,
  },
  {
    what: 'a Redis URL with the password in it',
    set: ['redis.enabled=false', 'externalRedis.url=redis://user:secret@redis.example:6379/0'],
    helm3: /externalRedis\.url: Does not match pattern/,
    helm4: /at '\/externalRedis\/url': .* does not match pattern/,
  },
  {
    what: 'a misspelt key deep in a NetworkPolicy peer',
    set: ['networkPolicy.metricsFrom[0].ipBlock.cidrr=10.0.0.0/8'],
    helm3: /networkPolicy\.metricsFrom\.0\.ipBlock: Additional property cidrr is not allowed/,
    helm4: /at '\/networkPolicy\/metricsFrom\/0\/ipBlock': additional properties 'cidrr' not allowed/,
  },
  {
    what: 'a misspelt key deep in an affinity',
    set: [
      'hosts.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight=1',
      'hosts.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologykey=zone',
    ],
    helm3:
      /podAntiAffinity\.preferredDuringSchedulingIgnoredDuringExecution\.0\.podAffinityTerm: Additional property topologykey is not allowed/,
    helm4:
      /podAntiAffinity\/preferredDuringSchedulingIgnoredDuringExecution\/0\/podAffinityTerm': additional properties 'topologykey' not allowed/,
  },
  {
    what: 'an unknown Service type',
    set: ['introducer.service.type=ExternalName'],
    helm3: /introducer\.service\.type: introducer\.service\.type must be one of the following/,
    helm4: /at '\/introducer\/service\/type': value must be one of/,
  },
  {
    what: 'a wrong type',
    set: ['hosts.persistence.enabled=maybe'],
    helm3: /hosts\.persistence\.enabled: Invalid type\. Expected: boolean, given: string/,
    helm4: /at '\/hosts\/persistence\/enabled': got string, want boolean/,
  },
  {
    what: 'TLS turned off with a word',
    set: ['tls.enabled=no'],
    helm3: /tls\.enabled: Invalid type\. Expected: boolean, given: string/,
    helm4: /at '\/tls\/enabled': got string, want boolean/,
  },
  {
    what: 'an unknown TLS key',
    set: ['tls.secretName=grapevine-tls'],
    helm3: /tls: Additional property secretName is not allowed/,
    helm4: /at '\/tls': additional properties 'secretName' not allowed/,
  },
  {
    what: 'a TLS Secret name Kubernetes would refuse',
    set: ['tls.existingSecret=Grapevine_TLS'],
    helm3: /tls\.existingSecret: Does not match pattern/,
    helm4: /at '\/tls\/existingSecret': 'Grapevine_TLS' does not match pattern/,
  },
  {
    what: 'an extra certificate name that is no DNS name',
    set: ['tls.generated.extraDnsNames={join_here.example.org}'],
    helm3: /tls\.generated\.extraDnsNames\.0: Does not match pattern/,
    helm4: /at '\/tls\/generated\/extraDnsNames\/0': 'join_here\.example\.org' does not match pattern/,
  },
  {
    what: 'an extra certificate address that is no IP address',
    set: ['tls.generated.extraIpAddresses={203.0.113.300}'],
    helm3: /tls\.generated\.extraIpAddresses\.0: Does not match pattern/,
    helm4: /at '\/tls\/generated\/extraIpAddresses\/0': '203\.0\.113\.300' does not match pattern/,
  },
  {
    what: 'a certificate valid for no day',
    set: ['tls.generated.validityDays=0'],
    helm3: /tls\.generated\.validityDays: Must be greater than or equal to 1/,
    helm4: /at '\/tls\/generated\/validityDays': minimum: got 0, want 1/,
  },
  {
    what: 'a TLS file set through a role setting (the chart sets those)',
    set: ['hosts.config.tlsCertFile=/etc/certs/host.pem'],
    helm3: /hosts\.config: Additional property tlsCertFile is not allowed/,
    helm4: /at '\/hosts\/config': additional properties 'tlsCertFile' not allowed/,
  },
  {
    what: 'plaintext chosen through a role setting instead of tls.enabled',
    set: ['directory.config.plaintext=true'],
    helm3: /directory\.config: Additional property plaintext is not allowed/,
    helm4: /at '\/directory\/config': additional properties 'plaintext' not allowed/,
  },
  {
    what: 'a health port out of range',
    set: ['introducer.healthPort=70000'],
    helm3: /introducer\.healthPort: Must be less than or equal to 65535/,
    helm4: /at '\/introducer\/healthPort': maximum: got 70,000, want 65,535/,
  },
];

/** Contradictions a schema cannot state, refused by the templates with the same words on both. */
const CONTRADICTIONS: { what: string; set: string[]; message: RegExp }[] = [
  {
    what: 'no Redis at all',
    set: ['redis.enabled=false'],
    message: /the directory needs Redis: keep redis\.enabled=true, or set externalRedis\.url/,
  },
  {
    what: 'both Redis choices',
    set: ['externalRedis.url=redis://redis.example:6379/0'],
    message: /redis\.enabled is true and externalRedis\.url is set; choose one/,
  },
  {
    what: 'a Redis CA without a rediss:// URL',
    set: [
      'redis.enabled=false',
      'externalRedis.url=redis://redis.example:6379/0',
      'externalRedis.tlsCaSecret=redis-ca',
    ],
    message: /externalRedis\.tlsCaSecret is set but externalRedis\.url is not a rediss:\/\/ URL/,
  },
  {
    what: 'an autoscaler floor above its ceiling',
    set: ['directory.autoscaling.minReplicas=5', 'directory.autoscaling.maxReplicas=3'],
    message: /directory\.autoscaling\.minReplicas \(5\) must not exceed maxReplicas \(3\)/,
  },
  {
    what: 'mutual TLS without TLS',
    set: ['tls.enabled=false', 'tls.clientAuth=true'],
    message: /tls\.clientAuth \(mutual TLS\) needs TLS: set tls\.enabled=true, or tls\.clientAuth=false/,
  },
  {
    what: 'a TLS Secret without TLS',
    set: ['tls.enabled=false', 'tls.existingSecret=grapevine-tls'],
    message: /tls\.existingSecret \(grapevine-tls\) is set but tls\.enabled is false; choose TLS or plaintext/,
  },
  {
    what: 'extra certificate names for a certificate the chart does not make',
    set: ['tls.existingSecret=grapevine-tls', 'tls.generated.extraDnsNames={join.example.org}'],
    message: /with tls\.existingSecret, put those names in that Secret's certificate/,
  },
  {
    what: 'a renewal window as long as the certificate',
    set: ['tls.generated.validityDays=30', 'tls.generated.renewBeforeDays=30'],
    message: /tls\.generated\.renewBeforeDays \(30\) must be less than validityDays \(30\)/,
  },
  {
    what: 'a health port on the gRPC port',
    set: ['hosts.healthPort=7600'],
    message: /hosts\.healthPort \(7600\) must differ from its grpcPort \(7600\) and metricsPort \(9600\)/,
  },
];

describe.each(HELMS.map((helm) => helm.name))('%s refuses', (helm) => {
  test.each(BAD_VALUES.map((bad) => [bad.what, bad] as const))('%s', (_what, bad) => {
    const result = runHelm(helm, ['template', RELEASE, CHART_DIR, ...bad.set.flatMap((value) => ['--set', value])]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(result.stderr).toMatch(bad[helm]);
  });

  test.each(CONTRADICTIONS.map((bad) => [bad.what, bad] as const))('%s', (_what, bad) => {
    const result = runHelm(helm, ['template', RELEASE, CHART_DIR, ...bad.set.flatMap((value) => ['--set', value])]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(bad.message);
  });

  test('and accepts every good value of those kinds', () => {
    const result = runHelm(helm, [
      'template',
      RELEASE,
      CHART_DIR,
      ...[
        'hosts.replicaCount=0',
        'hosts.config.maxFloodTtlHops=255',
        'redis.enabled=false',
        'externalRedis.url=rediss://[fd00::7]:6380/1',
        'introducer.service.type=NodePort',
        'introducer.service.nodePort=30500',
        'tls.generated.extraDnsNames={join.example.org,*.edge.example.org}',
        'tls.generated.extraIpAddresses={203.0.113.10,2001:db8::7}',
        'tls.generated.renewBeforeDays=0',
        'directory.healthPort=8400',
      ].flatMap((value) => ['--set', value]),
    ]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
