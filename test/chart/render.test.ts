/**
 * The chart, rendered for real by helm 3 and helm 4 with the default values and each
 * ci/*-values.yaml: lint passes, every object validates against the Kubernetes (and
 * prometheus-operator) schemas, and the objects say what an operator relies on.
 */
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { envName, loadConfig } from '../../services/common/config';
import { peersCommand } from '../../services/cli/commands/peers';
import { ROLE_SCHEMAS, type Role } from '../../charts/tools/chart-assets';
import {
  HELMS,
  K8sObject,
  MONITORING_APIS,
  NAMESPACE,
  RELEASE,
  TLS_DIR,
  ValuesCase,
  component,
  ensureHelm,
  ofKind,
  parseManifests,
  runHelm,
  template,
  tlsValuesOf,
  valuesArgs,
  valuesCases,
  CHART_DIR,
  type HelmName,
} from './helm';

type Validatable = { validate(): void };
const MODELS: Record<string, new (data: never) => Validatable> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

const ROLE_OF_COMPONENT: Record<string, Role> = { directory: 'directory', introducer: 'introducer', host: 'host' };

/** Pod templates (or the pod itself) of every workload, with the workload. */
function podSpecs(objects: readonly K8sObject[]): { owner: K8sObject; labels: Record<string, string>; spec: any }[] {
  return objects.flatMap((object) => {
    if (object.kind === 'Deployment' || object.kind === 'StatefulSet') {
      return [{ owner: object, labels: object.spec.template.metadata.labels, spec: object.spec.template.spec }];
    }
    if (object.kind === 'Pod') return [{ owner: object, labels: object.metadata.labels ?? {}, spec: object.spec }];
    return [];
  });
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function envOf(container: any): Map<string, any> {
  return new Map((container.env ?? []).map((entry: any) => [entry.name, entry]));
}

const cases = valuesCases();
const rendered = new Map<string, K8sObject[]>();
const key = (helm: HelmName, values: ValuesCase) => `${helm} ${values.name}`;

beforeAll(() => {
  ensureHelm();
  for (const helm of HELMS) {
    for (const values of cases) rendered.set(key(helm.name, values), template(helm.name, valuesArgs(values)));
  }
}, 300_000);

test('the ci values cover external Redis, metrics, scaled-out hosts, an exposed introducer and each TLS choice', () => {
  expect(cases.map((values) => values.name).sort()).toEqual(
    expect.arrayContaining([
      'ci/external-redis-values.yaml',
      'ci/hosts-scaled-values.yaml',
      'ci/introducer-exposed-values.yaml',
      'ci/metrics-values.yaml',
      'ci/tls-disabled-values.yaml',
      'ci/tls-existing-secret-values.yaml',
    ]),
  );
  const tls = (name: string) => tlsValuesOf(cases.find((values) => values.name === name)!);
  expect(tls('default values')).toMatchObject({ enabled: true, clientAuth: false, existingSecret: '' });
  expect(tls('ci/tls-disabled-values.yaml')).toMatchObject({ enabled: false });
  expect(tls('ci/tls-existing-secret-values.yaml')).toMatchObject({ enabled: true, clientAuth: true });
  expect(tls('ci/tls-existing-secret-values.yaml').existingSecret).not.toBe('');
  expect(cases.find((values) => values.name === 'ci/metrics-values.yaml')!.apiVersions).toEqual(MONITORING_APIS);
});

describe.each(HELMS.map((helm) => helm.name))('%s', (helm) => {
  test('is the version TOOLCHAIN.md names', () => {
    const result = runHelm(helm, ['version', '--template', '{{.Version}}']);
    expect(result.stdout.trim()).toBe(HELMS.find((h) => h.name === helm)!.version);
  });

  test('the longest release name helm allows still gives names Kubernetes takes', () => {
    const release = 'a'.repeat(53);
    const result = runHelm(helm, [
      'template',
      release,
      CHART_DIR,
      ...MONITORING_APIS.flatMap((a) => ['--api-versions', a]),
    ]);
    expect(result.status).toBe(0);
    const objects = parseManifests(result.stdout);
    const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
    for (const object of objects) {
      const name = object.metadata.name;
      expect({ kind: object.kind, name, fits: name.length <= 63 && dnsLabel.test(name) }).toMatchObject({ fits: true });
      // A StatefulSet's pods carry `<name>-<11-character hash>` as a label value (63 at most).
      if (object.kind === 'StatefulSet') expect({ name, fits: name.length <= 52 }).toMatchObject({ fits: true });
      for (const value of Object.values(object.metadata.labels ?? {}))
        expect(String(value).length).toBeLessThanOrEqual(63);
    }
    const names = objects.map((object) => `${object.kind}/${object.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
    expect(
      ofKind(objects, 'StatefulSet')
        .map((set) => component(set))
        .sort(),
    ).toEqual(['host', 'introducer', 'redis']);
  });

  describe.each(cases.map((values) => [values.name, values] as const))('with %s', (_name, values) => {
    const objects = () => rendered.get(key(helm, values))!;

    test('helm lint --strict passes', () => {
      const result = runHelm(helm, ['lint', '--strict', CHART_DIR, ...(values.file ? ['--values', values.file] : [])]);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.status).toBe(0);
    });

    test('every object validates against its Kubernetes schema', () => {
      expect(objects().length).toBeGreaterThan(10);
      for (const object of objects()) {
        const model = MODELS[`${object.apiVersion}/${object.kind}`];
        if (!model)
          throw new Error(`no schema known for ${object.apiVersion} ${object.kind} (${object.metadata.name})`);
        try {
          new model(object as never).validate();
        } catch (error) {
          throw new Error(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
        }
      }
    });

    test('names fit in 63 characters, are unique per kind, and carry the chart labels', () => {
      const seen = new Set<string>();
      for (const object of objects()) {
        expect(object.metadata.name.length).toBeLessThanOrEqual(63);
        expect(object.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        const id = `${object.kind}/${object.metadata.name}`;
        expect(seen.has(id)).toBe(false);
        seen.add(id);
        const labels = object.metadata.labels ?? {};
        for (const label of [
          'app.kubernetes.io/name',
          'app.kubernetes.io/instance',
          'app.kubernetes.io/version',
          'app.kubernetes.io/managed-by',
          'app.kubernetes.io/component',
          'helm.sh/chart',
        ]) {
          expect({ id, label, present: label in labels }).toEqual({ id, label, present: true });
        }
      }
      for (const set of ofKind(objects(), 'StatefulSet')) expect(set.metadata.name.length).toBeLessThanOrEqual(52);
    });

    test('selectors match the labels of the pods they mean', () => {
      const pods = podSpecs(objects());
      for (const workload of [...ofKind(objects(), 'Deployment'), ...ofKind(objects(), 'StatefulSet')]) {
        const selector = workload.spec.selector.matchLabels;
        expect(matches(selector, workload.spec.template.metadata.labels)).toBe(true);
        expect(selector['app.kubernetes.io/component']).toBe(component(workload));
        // No two workloads select each other's pods.
        const selected = pods.filter((pod) => pod.owner.kind !== 'Pod' && matches(selector, pod.labels));
        expect(selected.map((pod) => pod.owner.metadata.name)).toEqual([workload.metadata.name]);
      }
      const workloadPods = pods.filter((pod) => pod.owner.kind !== 'Pod');
      for (const object of [...ofKind(objects(), 'Service'), ...ofKind(objects(), 'PodDisruptionBudget')]) {
        const selector = object.kind === 'Service' ? object.spec.selector : object.spec.selector.matchLabels;
        const selected = workloadPods.filter((pod) => matches(selector, pod.labels));
        expect({ object: object.metadata.name, selects: selected.length }).toEqual({
          object: object.metadata.name,
          selects: 1,
        });
        if (object.kind === 'Service') {
          const containerPorts = selected[0].spec.containers.flatMap((c: any) => c.ports ?? []);
          for (const port of object.spec.ports) {
            expect(containerPorts.map((p: any) => p.name)).toContain(port.targetPort);
          }
        }
      }
      for (const policy of ofKind(objects(), 'NetworkPolicy')) {
        expect(workloadPods.filter((pod) => matches(policy.spec.podSelector.matchLabels, pod.labels))).toHaveLength(1);
      }
      for (const pod of workloadPods) {
        for (const constraint of pod.spec.topologySpreadConstraints ?? []) {
          expect(matches(constraint.labelSelector.matchLabels, pod.labels)).toBe(true);
        }
      }
      for (const hpa of ofKind(objects(), 'HorizontalPodAutoscaler')) {
        const target = ofKind(objects(), hpa.spec.scaleTargetRef.kind).find(
          (object) => object.metadata.name === hpa.spec.scaleTargetRef.name,
        );
        expect(target).toBeDefined();
        expect(target!.spec.replicas).toBeUndefined();
      }
    });

    const roleWorkloads = () =>
      [...ofKind(objects(), 'Deployment'), ...ofKind(objects(), 'StatefulSet')].filter(
        (workload) => component(workload)! in ROLE_OF_COMPONENT,
      );

    test('probes ask the plaintext health port of every Grapevine container, which the role is told', () => {
      const workloads = roleWorkloads();
      expect(workloads.length).toBeGreaterThanOrEqual(2);
      for (const workload of workloads) {
        const [container] = workload.spec.template.spec.containers;
        const port = (name: string) => container.ports.find((p: any) => p.name === name)?.containerPort;
        const health = port('health');
        expect(health).toBeDefined();
        expect(new Set([port('grpc'), port('metrics'), health]).size).toBe(3);
        expect(envOf(container).get('GRAPEVINE_HEALTH_PORT').value).toBe(String(health));
        expect(container.readinessProbe.grpc).toEqual({ port: health, service: '' });
        if (container.startupProbe) expect(container.startupProbe.grpc).toEqual({ port: health, service: '' });
        if (component(workload) === 'directory') {
          // The directory's health follows Redis: its liveness must not, or an outage restarts them all.
          expect(container.livenessProbe.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
        } else {
          expect(container.livenessProbe.grpc).toEqual({ port: health, service: '' });
        }
      }
    });

    test('NetworkPolicies open the health ports to nobody but networkPolicy.healthFrom', () => {
      const { healthFrom } = tlsValuesOf(values);
      for (const workload of roleWorkloads()) {
        const [container] = workload.spec.template.spec.containers;
        const health = container.ports.find((p: any) => p.name === 'health').containerPort;
        const policy = ofKind(objects(), 'NetworkPolicy').find((p) => component(p) === component(workload))!;
        const opening = policy.spec.ingress.filter((rule: any) =>
          (rule.ports ?? []).some((port: any) => port.port === health),
        );
        // The kubelet probes from the pod's own node, which every NetworkPolicy lets through.
        expect(opening).toEqual(
          healthFrom.length === 0 ? [] : [{ from: healthFrom, ports: [{ port: health, protocol: 'TCP' }] }],
        );
      }
    });

    test('every role and the test pod get the TLS files read-only and the settings that name them, or plaintext', () => {
      const tls = tlsValuesOf(values);
      const secretName = tls.existingSecret || `${RELEASE}-grapevine-tls`;
      const pods = podSpecs(objects()).filter(
        ({ owner }) => owner.kind === 'Pod' || component(owner)! in ROLE_OF_COMPONENT,
      );
      expect(pods.length).toBeGreaterThanOrEqual(3);
      for (const { owner, spec } of pods) {
        const where = `${owner.kind} ${owner.metadata.name}`;
        const [container] = spec.containers;
        const volume = (spec.volumes ?? []).find((v: any) => v.name === 'tls');
        const mount = (container.volumeMounts ?? []).find((m: any) => m.name === 'tls');
        const env = envOf(container);
        const isRole = owner.kind !== 'Pod';
        if (!tls.enabled) {
          expect({ where, volume, mount }).toEqual({ where, volume: undefined, mount: undefined });
          if (isRole) {
            expect({ where, plaintext: env.get('GRAPEVINE_PLAINTEXT')?.value }).toEqual({ where, plaintext: 'true' });
            expect([...env.keys()].filter((name) => name.startsWith('GRAPEVINE_TLS_'))).toEqual([]);
          } else {
            expect(container.args).toContain('--plaintext');
          }
          continue;
        }
        expect({ where, volume }).toEqual({
          where,
          volume: {
            name: 'tls',
            secret: {
              secretName,
              defaultMode: 0o440,
              // Never the CA's key, which a generated Secret also holds.
              items: ['tls.crt', 'tls.key', 'ca.crt'].map((key) => ({ key, path: key })),
            },
          },
        });
        // A whole-volume mount (no subPath), so the kubelet brings renewed files without a restart.
        expect({ where, mount }).toEqual({ where, mount: { name: 'tls', mountPath: TLS_DIR, readOnly: true } });
        if (isRole) {
          expect({
            where,
            cert: env.get('GRAPEVINE_TLS_CERT_FILE')?.value,
            key: env.get('GRAPEVINE_TLS_KEY_FILE')?.value,
            ca: env.get('GRAPEVINE_TLS_CA_FILE')?.value,
            clientAuth: env.get('GRAPEVINE_TLS_CLIENT_AUTH')?.value,
            plaintext: env.get('GRAPEVINE_PLAINTEXT'),
          }).toEqual({
            where,
            cert: `${TLS_DIR}/tls.crt`,
            key: `${TLS_DIR}/tls.key`,
            ca: `${TLS_DIR}/ca.crt`,
            clientAuth: String(tls.clientAuth),
            plaintext: undefined,
          });
        } else {
          const args: string[] = container.args;
          const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
          expect({
            where,
            ca: flag('--tls-ca-file'),
            cert: flag('--tls-cert-file'),
            key: flag('--tls-key-file'),
          }).toEqual({
            where,
            ca: `${TLS_DIR}/ca.crt`,
            cert: tls.clientAuth ? `${TLS_DIR}/tls.crt` : undefined,
            key: tls.clientAuth ? `${TLS_DIR}/tls.key` : undefined,
          });
          expect(args).not.toContain('--plaintext');
        }
      }
      const secrets = ofKind(objects(), 'Secret').filter((secret) => secret.type === 'kubernetes.io/tls');
      if (tls.enabled && !tls.existingSecret) {
        expect(secrets.map((secret) => secret.metadata.name)).toEqual([secretName]);
        expect(Object.keys(secrets[0].data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
      } else {
        expect(secrets).toEqual([]);
      }
    });

    test('members name each other in their seeds under TLS, and find each other by DNS in plaintext', () => {
      const tls = tlsValuesOf(values);
      for (const workload of roleWorkloads().filter((w) => component(w) !== 'directory')) {
        const env = envOf(workload.spec.template.spec.containers[0]);
        const seeds: string[] = String(env.get('GRAPEVINE_SEEDS')?.value ?? '').split(',');
        const dnsSeeds = env.get('GRAPEVINE_DNS_SEEDS');
        const members = ofKind(objects(), 'StatefulSet').filter((set) => component(set)! in ROLE_OF_COMPONENT);
        const named = members.flatMap((set) =>
          Array.from(
            { length: Math.min(3, set.spec.replicas) },
            (_, i) =>
              `${set.metadata.name}-${i}.${set.spec.serviceName}.${NAMESPACE}.svc.cluster.local:${set.spec.template.spec.containers[0].ports[0].containerPort}`,
          ),
        );
        if (tls.enabled) {
          // A DNS seed is dialled at the IPs it resolves to, which no certificate names.
          expect(dnsSeeds).toBeUndefined();
          expect(seeds).toEqual(expect.arrayContaining(named));
        } else {
          expect(dnsSeeds.value.split(',')).toHaveLength(members.length);
          for (const name of named) expect(seeds).not.toContain(name);
        }
      }
    });

    test('every pod runs non-root with a read-only root, no escalation, no capabilities, and resources', () => {
      const pods = podSpecs(objects());
      expect(pods.length).toBeGreaterThanOrEqual(3);
      for (const { owner, spec } of pods) {
        const where = `${owner.kind} ${owner.metadata.name}`;
        expect({ where, runAsNonRoot: spec.securityContext?.runAsNonRoot }).toEqual({ where, runAsNonRoot: true });
        expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
        expect(spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
        expect(spec.automountServiceAccountToken).toBe(false);
        for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
          expect({ where, ...container.securityContext }).toMatchObject({
            where,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            capabilities: { drop: ['ALL'] },
          });
          expect(container.resources.requests.memory).toBeDefined();
          expect(container.resources.limits.memory).toBeDefined();
        }
      }
    });

    test('every GRAPEVINE_* variable is a setting of the role that reads it', () => {
      for (const workload of [...ofKind(objects(), 'Deployment'), ...ofKind(objects(), 'StatefulSet')]) {
        const role = ROLE_OF_COMPONENT[component(workload)!];
        if (!role) continue;
        const [container] = workload.spec.template.spec.containers;
        expect(container.args).toEqual([role]);
        const known = Object.keys(ROLE_SCHEMAS[role].shape).map(envName);
        for (const name of envOf(container).keys()) {
          if (name.startsWith('GRAPEVINE_'))
            expect({ role, name, known: known.includes(name) }).toEqual({ role, name, known: true });
        }
      }
    });

    test("each role's rendered environment passes the role's own start-up checks", () => {
      for (const workload of roleWorkloads()) {
        const role = ROLE_OF_COMPONENT[component(workload)!];
        // What the kubelet hands the process: values from Secrets and fields, then $(VAR) expanded.
        const env: Record<string, string> = {};
        for (const entry of workload.spec.template.spec.containers[0].env) {
          const value =
            entry.value ??
            (entry.valueFrom.fieldRef
              ? `${workload.metadata.name}-0`
              : `from-secret-${entry.valueFrom.secretKeyRef.key}`);
          env[entry.name] = String(value).replace(/\$\(([A-Z_]+)\)/g, (text, name) => env[name] ?? text);
        }
        expect(() => loadConfig(ROLE_SCHEMAS[role], { env })).not.toThrow();
      }
    });

    test('variables that take in others come after them', () => {
      for (const { spec } of podSpecs(objects())) {
        for (const container of spec.containers) {
          const names: string[] = (container.env ?? []).map((entry: any) => entry.name);
          (container.env ?? []).forEach((entry: any, index: number) => {
            for (const [, used] of String(entry.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g)) {
              expect({
                variable: entry.name,
                uses: used,
                declaredBefore: names.slice(0, index).includes(used),
              }).toEqual({
                variable: entry.name,
                uses: used,
                declaredBefore: true,
              });
            }
          });
          for (const arg of container.args ?? []) {
            for (const [, used] of String(arg).matchAll(/\$\(([A-Z_]+)\)/g)) expect(names).toContain(used);
          }
        }
      }
    });

    test('the helm test hook resolves a peer through the directory with flags the CLI has', () => {
      const [hook] = ofKind(objects(), 'Pod').filter((pod) => pod.metadata.annotations?.['helm.sh/hook'] === 'test');
      expect(hook).toBeDefined();
      const args: string[] = hook.spec.containers[0].args;
      const directory = ofKind(objects(), 'Service').find((service) => component(service) === 'directory')!;
      expect(args[args.indexOf('--directory') + 1]).toBe(
        `${directory.metadata.name}.${NAMESPACE}.svc.cluster.local:${directory.spec.ports[0].port}`,
      );
      const hosts = ofKind(objects(), 'StatefulSet').find((set) => component(set) === 'host')!;
      expect(args.slice(0, 3)).toEqual(['peers', 'resolve', `${hosts.metadata.name}-0`]);
      const resolve = peersCommand().commands.find((command) => command.name() === 'resolve')!;
      const flags = resolve.options.map((option) => option.long);
      for (const flag of args.filter((arg) => arg.startsWith('--'))) expect(flags).toContain(flag);
    });

    test('monitoring objects exist exactly when the cluster serves monitoring.coreos.com/v1', () => {
      const crds = values.apiVersions.length > 0;
      expect(ofKind(objects(), 'ServiceMonitor')).toHaveLength(crds ? 1 : 0);
      expect(ofKind(objects(), 'PrometheusRule')).toHaveLength(crds ? 1 : 0);
    });
  });
});

describe('what the values change (helm 4, the same templates as helm 3)', () => {
  const helm: HelmName = 'helm4';
  const objectsFor = (name: string) =>
    rendered.get(
      key(
        helm,
        cases.find((values) => values.name === name)!,
      ),
    )!;

  test('defaults: in-chart Redis reachable by the directory only, over TLS, with its password from a Secret', () => {
    const objects = objectsFor('default values');
    const redis = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'redis')!;
    expect(redis.spec.replicas).toBe(1);
    expect(redis.spec.volumeClaimTemplates).toBeUndefined();
    const policy = ofKind(objects, 'NetworkPolicy').find((p) => component(p) === 'redis')!;
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.egress).toBeUndefined();
    expect(policy.spec.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'directory' }) } },
        ],
        ports: [{ port: 6379, protocol: 'TCP' }],
      },
    ]);
    const directory = ofKind(objects, 'Deployment').find((d) => component(d) === 'directory')!;
    const env = envOf(directory.spec.template.spec.containers[0]);
    expect(env.get('GRAPEVINE_REDIS_URL').value).toBe(
      `rediss://:$(REDIS_PASSWORD)@${RELEASE}-grapevine-redis.${NAMESPACE}.svc.cluster.local:6379/0`,
    );
    expect(env.get('GRAPEVINE_REDIS_TLS_CA_FILE').value).toBe(`${TLS_DIR}/ca.crt`);
    expect(env.get('REDIS_PASSWORD').valueFrom.secretKeyRef.name).toBe(`${RELEASE}-grapevine-redis-auth`);
    // Redis serves TLS only, with the release's certificate, and a second container makes it
    // read the files again as the kubelet renews them.
    const [server, reload] = redis.spec.template.spec.containers;
    const args: string[] = server.args;
    expect(args.slice(0, 4)).toEqual(['--port', '0', '--tls-port', '6379']);
    expect(args[args.indexOf('--tls-cert-file') + 1]).toBe(`${TLS_DIR}/tls.crt`);
    expect(server.readinessProbe.exec.command[2]).toMatch(/^redis-cli --tls /);
    expect(reload.name).toBe('tls-reload');
    expect(reload.args[0]).toContain(`CONFIG SET tls-cert-file ${TLS_DIR}/tls.crt`);
    for (const container of [server, reload]) {
      expect(container.volumeMounts).toContainEqual({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
    }
    expect(env.get('GRAPEVINE_INTRODUCER_TOKEN').valueFrom.secretKeyRef.name).toBe(
      `${RELEASE}-grapevine-introducer-token`,
    );
    expect(ofKind(objects, 'HorizontalPodAutoscaler')[0].spec.metrics[0].resource.name).toBe('cpu');
  });

  test("defaults: each role's V8 heap limit is set, and below its container's memory limit", () => {
    const mebibytes = (quantity: string) => {
      const [, n, unit] = /^(\d+)(Mi|Gi)$/.exec(quantity)!;
      return Number(n) * (unit === 'Gi' ? 1_024 : 1);
    };
    const workloads = [
      ...ofKind(objectsFor('default values'), 'Deployment'),
      ...ofKind(objectsFor('default values'), 'StatefulSet'),
    ];
    const roles = workloads.filter((w) => ROLE_OF_COMPONENT[component(w)!]);
    expect(roles.map((w) => ROLE_OF_COMPONENT[component(w)!]).sort()).toEqual(['directory', 'host', 'introducer']);
    for (const workload of roles) {
      const [container] = workload.spec.template.spec.containers;
      const heap = /^--max-old-space-size=(\d+)$/.exec(envOf(container).get('NODE_OPTIONS')?.value ?? '');
      const limit = mebibytes(container.resources.limits.memory);
      expect({ role: component(workload), heapBelowLimit: heap !== null && Number(heap[1]) < limit }).toEqual({
        role: component(workload),
        heapBelowLimit: true,
      });
    }
  });

  test('defaults: hosts keep their key and peer cache on their own volume, and advertise a stable name', () => {
    const objects = objectsFor('default values');
    const hosts = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'host')!;
    expect(hosts.spec.serviceName).toBe(hosts.metadata.name);
    const headless = ofKind(objects, 'Service').find((service) => service.metadata.name === hosts.spec.serviceName)!;
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(hosts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    const container = hosts.spec.template.spec.containers[0];
    const env = envOf(container);
    expect(env.get('GRAPEVINE_KEY_FILE').value).toBe('/var/lib/grapevine/key.pem');
    expect(env.get('GRAPEVINE_DATA_DIR').value).toBe('/var/lib/grapevine');
    expect(container.volumeMounts).toContainEqual({ name: 'data', mountPath: '/var/lib/grapevine' });
    expect(env.get('GRAPEVINE_NAME').value).toBe('$(POD_NAME)');
    expect(env.get('POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(env.get('GRAPEVINE_ADVERTISE_ADDRESS').value).toBe(
      `$(POD_NAME).${hosts.metadata.name}.${NAMESPACE}.svc.cluster.local:7600`,
    );
    expect(env.get('GRAPEVINE_SEEDS').value.split(',')[0]).toBe(
      `${RELEASE}-grapevine-introducer.${NAMESPACE}.svc.cluster.local:7500`,
    );
  });

  test('defaults: introducers are a StatefulSet too, each advertising its stable name', () => {
    const objects = objectsFor('default values');
    expect(ofKind(objects, 'Deployment').map((d) => component(d))).toEqual(['directory']);
    const introducers = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'introducer')!;
    const headless = ofKind(objects, 'Service').find(
      (service) => service.metadata.name === introducers.spec.serviceName,
    )!;
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(introducers.spec.podManagementPolicy).toBe('Parallel');
    expect(introducers.spec.volumeClaimTemplates).toBeUndefined();
    const env = envOf(introducers.spec.template.spec.containers[0]);
    expect(env.get('GRAPEVINE_ADVERTISE_ADDRESS').value).toBe(
      `$(POD_NAME).${headless.metadata.name}.${NAMESPACE}.svc.cluster.local:7500`,
    );
    expect(env.get('POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
  });

  test('TLS disabled: plaintext chosen explicitly, members found through the headless Services', () => {
    const objects = objectsFor('ci/tls-disabled-values.yaml');
    const redis = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'redis')!;
    expect(redis.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['redis']);
    expect(redis.spec.template.spec.containers[0].args.slice(0, 2)).toEqual(['--port', '6379']);
    const directory = ofKind(objects, 'Deployment').find((d) => component(d) === 'directory')!;
    const directoryEnv = envOf(directory.spec.template.spec.containers[0]);
    expect(directoryEnv.get('GRAPEVINE_REDIS_URL').value).toMatch(/^redis:\/\//);
    expect(directoryEnv.has('GRAPEVINE_REDIS_TLS_CA_FILE')).toBe(false);
    const hosts = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'host')!;
    const env = envOf(hosts.spec.template.spec.containers[0]);
    expect(env.get('GRAPEVINE_SEEDS').value).toBe(
      `${RELEASE}-grapevine-introducer.${NAMESPACE}.svc.cluster.local:7500`,
    );
    expect(env.get('GRAPEVINE_DNS_SEEDS').value).toBe(
      [
        `${RELEASE}-grapevine-host.${NAMESPACE}.svc.cluster.local:7600`,
        `${RELEASE}-grapevine-introducer-headless.${NAMESPACE}.svc.cluster.local:7500`,
      ].join(','),
    );
  });

  test('external Redis: no Redis in the release; the URL takes the password from the Secret; its CA; egress to its port', () => {
    const objects = objectsFor('ci/external-redis-values.yaml');
    expect(objects.filter((object) => component(object) === 'redis')).toEqual([]);
    const directory = ofKind(objects, 'Deployment').find((d) => component(d) === 'directory')!;
    const env = envOf(directory.spec.template.spec.containers[0]);
    expect(env.get('GRAPEVINE_REDIS_URL').value).toBe(
      'rediss://grapevine:$(REDIS_PASSWORD)@redis.example.internal:6380/2',
    );
    expect(env.get('REDIS_PASSWORD').valueFrom.secretKeyRef).toEqual({ name: 'grapevine-redis', key: 'password' });
    // Its private CA: mounted read-only from its Secret, and named to the directory.
    const pod = directory.spec.template.spec;
    expect(env.get('GRAPEVINE_REDIS_TLS_CA_FILE').value).toBe('/etc/grapevine/redis-ca/ca.crt');
    expect(pod.volumes).toContainEqual({
      name: 'redis-ca',
      secret: { secretName: 'grapevine-redis-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    expect(pod.containers[0].volumeMounts).toContainEqual({
      name: 'redis-ca',
      mountPath: '/etc/grapevine/redis-ca',
      readOnly: true,
    });
    const policy = ofKind(objects, 'NetworkPolicy').find((p) => component(p) === 'directory')!;
    expect(policy.spec.egress).toContainEqual({ ports: [{ port: 6380, protocol: 'TCP' }] });
  });

  test('metrics: the ServiceMonitor scrapes the metrics port of every role and labels targets by role', () => {
    const objects = objectsFor('ci/metrics-values.yaml');
    const [monitor] = ofKind(objects, 'ServiceMonitor');
    expect(monitor.metadata.labels!.release).toBe('kube-prometheus-stack');
    const [endpoint] = monitor.spec.endpoints;
    expect(endpoint.port).toBe('metrics');
    expect(endpoint.relabelings).toContainEqual({
      sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'],
      targetLabel: 'role',
    });
    // Each role's pods sit behind exactly one Service with a `metrics` port, so each is scraped once.
    const scraped = ofKind(objects, 'Service').filter(
      (service) =>
        matches(monitor.spec.selector.matchLabels, service.metadata.labels!) &&
        monitor.spec.selector.matchExpressions[0].values.includes(component(service)) &&
        service.spec.ports.some((port: any) => port.name === 'metrics'),
    );
    expect(scraped.map((service) => component(service)).sort()).toEqual(['directory', 'host', 'introducer']);
    for (const policy of ofKind(objects, 'NetworkPolicy').filter((p) => component(p) !== 'redis')) {
      const metricsRule = policy.spec.ingress.find((rule: any) => rule.from);
      expect(metricsRule.from).toEqual([
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      ]);
    }
    for (const map of ofKind(objects, 'ConfigMap')) expect(map.metadata.namespace).toBe('monitoring');
  });

  test('hosts scaled out: replicas, keys and appToken from Secrets, zone spread, affinity, config as variables, an application beside each', () => {
    const objects = objectsFor('ci/hosts-scaled-values.yaml');
    const hosts = ofKind(objects, 'StatefulSet').find((set) => component(set) === 'host')!;
    expect(hosts.spec.replicas).toBe(12);
    const pod = hosts.spec.template.spec;
    const env = envOf(pod.containers[0]);
    expect(env.get('GRAPEVINE_KEY_FILE').value).toBe('/etc/grapevine/keys/$(POD_NAME).pem');
    expect(env.get('GRAPEVINE_APP_TOKEN').valueFrom.secretKeyRef).toEqual({
      name: 'grapevine-app-token',
      key: 'token',
    });
    // Without a Secret named, the hosts have no token.
    const plain = ofKind(objectsFor('default values'), 'StatefulSet').find((set) => component(set) === 'host')!;
    expect(envOf(plain.spec.template.spec.containers[0]).has('GRAPEVINE_APP_TOKEN')).toBe(false);
    expect(pod.volumes).toContainEqual({
      name: 'keys',
      secret: { secretName: 'grapevine-host-keys', defaultMode: 0o440 },
    });
    expect(pod.topologySpreadConstraints[0]).toMatchObject({
      topologyKey: 'topology.kubernetes.io/zone',
      whenUnsatisfiable: 'DoNotSchedule',
    });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toHaveLength(1);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]).toMatchObject({
      weight: 50,
      podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' },
    });
    expect(env.get('GRAPEVINE_LABELS').value).toBe('tier=edge,zone=eu-1');
    expect(env.get('GRAPEVINE_PROFILE').value).toBe('wan');
    expect(env.get('GRAPEVINE_EXPECTED_PEERS').value).toBe('5000');
    const member = (set: string, i: number, service: string, port: number) =>
      `${RELEASE}-grapevine-${set}-${i}.${RELEASE}-grapevine-${service}.${NAMESPACE}.svc.cluster.local:${port}`;
    expect(env.get('GRAPEVINE_SEEDS').value.split(',')).toEqual([
      `${RELEASE}-grapevine-introducer.${NAMESPACE}.svc.cluster.local:7500`,
      'seed.example.org:7600',
      // Under TLS, the first pods of each member StatefulSet by name (no more than three of each).
      member('introducer', 0, 'introducer-headless', 7500),
      member('introducer', 1, 'introducer-headless', 7500),
      member('host', 0, 'host', 7600),
      member('host', 1, 'host', 7600),
      member('host', 2, 'host', 7600),
    ]);
    // The application runs in each host pod, after the host, with its own volume beside the chart's.
    expect(pod.containers.map((c: { name: string }) => c.name)).toEqual(['host', 'chat']);
    expect(envOf(pod.containers[1]).get('CHAT_GRAPEVINE_TOKEN').valueFrom.secretKeyRef).toEqual(
      env.get('GRAPEVINE_APP_TOKEN').valueFrom.secretKeyRef,
    );
    expect(envOf(pod.containers[1]).get('CHAT_GRAPEVINE_ADDRESS').value).toBe('127.0.0.1:7700');
    expect(pod.volumes).toContainEqual({ name: 'chat-cache', emptyDir: { sizeLimit: '32Mi' } });
    expect(pod.volumes.map((v: { name: string }) => v.name)).toEqual(
      expect.arrayContaining(['tmp', 'keys', 'chat-cache']),
    );
    expect(plain.spec.template.spec.containers).toHaveLength(1);
    expect(hosts.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('fast-ssd');
    expect(ofKind(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(ofKind(objects, 'Deployment').find((d) => component(d) === 'directory')!.spec.replicas).toBe(3);
  });

  test('introducer exposed: a LoadBalancer with the gRPC port only, and dial-back egress anywhere', () => {
    const objects = objectsFor('ci/introducer-exposed-values.yaml');
    const exposed = ofKind(objects, 'Service').find((service) => service.spec.type === 'LoadBalancer')!;
    expect(component(exposed)).toBe('introducer');
    expect(exposed.spec.ports.map((port: any) => port.name)).toEqual(['grpc']);
    expect(exposed.spec.externalTrafficPolicy).toBe('Local');
    expect(exposed.spec.loadBalancerSourceRanges).toEqual(['203.0.113.0/24', '198.51.100.0/24']);
    const policy = ofKind(objects, 'NetworkPolicy').find((p) => component(p) === 'introducer')!;
    expect(policy.spec.egress).toContainEqual({});
    const defaults = ofKind(objectsFor('default values'), 'NetworkPolicy').find((p) => component(p) === 'introducer')!;
    expect(defaults.spec.egress).not.toContainEqual({});
  });

  test('TLS from an existing Secret with mutual TLS: no Secret made, every role asks for client certificates', () => {
    const objects = objectsFor('ci/tls-existing-secret-values.yaml');
    expect(ofKind(objects, 'Secret').map((secret) => secret.metadata.name)).not.toContain(`${RELEASE}-grapevine-tls`);
    for (const workload of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'StatefulSet')]) {
      if (!(component(workload)! in ROLE_OF_COMPONENT)) continue;
      const pod = workload.spec.template.spec;
      expect(pod.volumes.find((v: any) => v.name === 'tls').secret.secretName).toBe('grapevine-tls');
      expect(envOf(pod.containers[0]).get('GRAPEVINE_TLS_CLIENT_AUTH').value).toBe('true');
    }
  });
});
