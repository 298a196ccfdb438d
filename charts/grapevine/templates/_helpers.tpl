{{/*
Names. Kubernetes names and label values hold at most 63 characters, so every name is cut there,
without a trailing dash.
*/}}
{{- define "grapevine.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "grapevine.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of one component's objects: the full name, cut short enough that the component always
fits, so two components never end up with one name. Call with
(dict "root" $ "component" "directory"), and optionally "max" (63 unless given).
*/}}
{{- define "grapevine.componentName" -}}
{{- $room := sub (default 63 .max) (add1 (len .component)) | int }}
{{- printf "%s-%s" (include "grapevine.fullname" .root | trunc $room | trimSuffix "-") .component }}
{{- end }}

{{/*
The hosts' StatefulSet name. A StatefulSet's pods carry a controller-revision-hash label made of
its name and an 11-character hash, so the name itself stops at 52 characters.
*/}}
{{- define "grapevine.hostName" -}}
{{- include "grapevine.componentName" (dict "root" . "component" "host" "max" 52) }}
{{- end }}

{{/*
The introducers' StatefulSet name (cut like the hosts'), and their headless Service: each
introducer pod is `<statefulset>-<n>.<headless service>`, the name it advertises.
*/}}
{{- define "grapevine.introducerName" -}}
{{- include "grapevine.componentName" (dict "root" . "component" "introducer" "max" 52) }}
{{- end }}

{{- define "grapevine.introducerHeadlessName" -}}
{{- include "grapevine.componentName" (dict "root" . "component" "introducer-headless") }}
{{- end }}

{{- define "grapevine.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels. Selector labels are a fixed subset of the common labels: they may never change after
install, so neither the version nor the chart go into them.
*/}}
{{- define "grapevine.selectorLabels" -}}
app.kubernetes.io/name: {{ include "grapevine.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "grapevine.labels" -}}
helm.sh/chart: {{ include "grapevine.chart" .root }}
{{ include "grapevine.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: {{ include "grapevine.name" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "grapevine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "grapevine.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "grapevine.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "grapevine.redisImage" -}}
{{- $image := .Values.redis.image }}
{{- if $image.digest }}
{{- printf "%s:%s@%s" $image.repository $image.tag $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository $image.tag }}
{{- end }}
{{- end }}

{{/* In-cluster DNS names and addresses. */}}
{{- define "grapevine.serviceDomain" -}}
{{- printf "%s.svc.%s" .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{- define "grapevine.directoryAddress" -}}
{{- printf "%s.%s:%d" (include "grapevine.componentName" (dict "root" . "component" "directory")) (include "grapevine.serviceDomain" .) (int .Values.directory.grpcPort) }}
{{- end }}

{{- define "grapevine.introducerAddress" -}}
{{- printf "%s.%s:%d" (include "grapevine.componentName" (dict "root" . "component" "introducer")) (include "grapevine.serviceDomain" .) (int .Values.introducer.grpcPort) }}
{{- end }}

{{/* The in-chart Redis: a StatefulSet too, so cut like the hosts'. */}}
{{- define "grapevine.redisName" -}}
{{- include "grapevine.componentName" (dict "root" . "component" "redis" "max" 52) }}
{{- end }}

{{/* Secrets: the introducer token and the Redis password, from the values or generated. */}}
{{- define "grapevine.introducerTokenSecretName" -}}
{{- if .Values.introducerToken.existingSecret }}
{{- .Values.introducerToken.existingSecret }}
{{- else }}
{{- include "grapevine.componentName" (dict "root" . "component" "introducer-token") }}
{{- end }}
{{- end }}

{{- define "grapevine.introducerTokenSecretKey" -}}
{{- if .Values.introducerToken.existingSecret }}
{{- .Values.introducerToken.existingSecretKey }}
{{- else }}
{{- "introducer-token" }}
{{- end }}
{{- end }}

{{/* Whether the directory connects to Redis with a password. */}}
{{- define "grapevine.redisHasPassword" -}}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}true{{ end }}
{{- else if or .Values.externalRedis.password .Values.externalRedis.existingSecret }}true
{{- end }}
{{- end }}

{{- define "grapevine.redisSecretName" -}}
{{- if and .Values.redis.enabled .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecret }}
{{- else if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret }}
{{- .Values.externalRedis.existingSecret }}
{{- else }}
{{- include "grapevine.componentName" (dict "root" . "component" "redis-auth") }}
{{- end }}
{{- end }}

{{- define "grapevine.redisSecretKey" -}}
{{- if and .Values.redis.enabled .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecretPasswordKey }}
{{- else if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret }}
{{- .Values.externalRedis.existingSecretPasswordKey }}
{{- else }}
{{- "redis-password" }}
{{- end }}
{{- end }}

{{/*
A generated secret that survives upgrades: the value already in the cluster when there is one,
else new random characters. Call with (dict "root" $ "name" "<secret>" "key" "<key>").
*/}}
{{- define "grapevine.keptRandom" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $existing (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}

{{/* The password redis-cli reads (the probes and the TLS reload of the in-chart Redis). */}}
{{- define "grapevine.redisCliAuth" -}}
- name: REDISCLI_AUTH
  valueFrom:
    secretKeyRef:
      name: {{ include "grapevine.redisSecretName" . }}
      key: {{ include "grapevine.redisSecretKey" . }}
{{- end }}

{{/* "true" when the in-chart Redis serves TLS: redis.tls.enabled, under the release's TLS. */}}
{{- define "grapevine.redisTls" -}}
{{- if and .Values.redis.enabled .Values.redis.tls.enabled .Values.tls.enabled }}true{{ end }}
{{- end }}

{{/* The name the directory dials the in-chart Redis at (and its certificate then carries). */}}
{{- define "grapevine.redisHost" -}}
{{- printf "%s.%s" (include "grapevine.redisName" .) (include "grapevine.serviceDomain" .) }}
{{- end }}

{{/*
The Redis URL the directory uses. The password is not in it: the kubelet puts it in from the
REDIS_PASSWORD variable ($(REDIS_PASSWORD)), so it stays in the Secret.
*/}}
{{- define "grapevine.redisUrl" -}}
{{- $password := ternary ":$(REDIS_PASSWORD)@" "" (eq (include "grapevine.redisHasPassword" .) "true") }}
{{- if .Values.redis.enabled }}
{{- $scheme := ternary "rediss" "redis" (eq (include "grapevine.redisTls" .) "true") }}
{{- printf "%s://%s%s:6379/0" $scheme $password (include "grapevine.redisHost" .) }}
{{- else }}
{{- $url := .Values.externalRedis.url }}
{{- $scheme := regexFind "^rediss?://" $url }}
{{- $rest := trimPrefix $scheme $url }}
{{- $user := "" }}
{{- if contains "@" $rest }}
{{- $user = regexFind "^[^@]*" $rest }}
{{- $rest = regexReplaceAll "^[^@]*@" $rest "" }}
{{- end }}
{{- if $password }}
{{- printf "%s%s:$(REDIS_PASSWORD)@%s" $scheme $user $rest }}
{{- else if $user }}
{{- printf "%s%s@%s" $scheme $user $rest }}
{{- else }}
{{- $url }}
{{- end }}
{{- end }}
{{- end }}

{{/* Port of the external Redis, from its URL (6379 when the URL names none). */}}
{{- define "grapevine.externalRedisPort" -}}
{{- $hostPort := regexReplaceAll "^rediss?://([^@]*@)?" .Values.externalRedis.url "" }}
{{- $hostPort = regexReplaceAll "/.*$" $hostPort "" }}
{{- $port := regexFind ":[0-9]+$" $hostPort | trimPrefix ":" }}
{{- default "6379" $port }}
{{- end }}

{{/*
A role's `config` values as GRAPEVINE_* variables: grpcPort becomes GRAPEVINE_GRPC_PORT, a list
is joined with commas, a map becomes k=v,k=v (the forms the roles read from the environment).
*/}}
{{- define "grapevine.configEnv" -}}
{{- range $key, $value := . }}
- name: {{ printf "GRAPEVINE_%s" (snakecase $key | upper) }}
  {{- if kindIs "slice" $value }}
  value: {{ join "," $value | quote }}
  {{- else if kindIs "map" $value }}
  {{- $pairs := list }}
  {{- range $k, $v := $value }}
  {{- $pairs = append $pairs (printf "%s=%v" $k $v) }}
  {{- end }}
  value: {{ join "," $pairs | quote }}
  {{- else if kindIs "float64" $value }}
  value: {{ int64 $value | toString | quote }}
  {{- else }}
  value: {{ toString $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Variables every Grapevine container gets. */}}
{{- define "grapevine.commonEnv" -}}
- name: GRAPEVINE_HOST
  value: {{ .Values.listenAddress | quote }}
- name: GRAPEVINE_METRICS_HOST
  value: {{ .Values.listenAddress | quote }}
- name: GRAPEVINE_METRICS
  value: "true"
- name: GRAPEVINE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- include "grapevine.tlsEnv" . }}
{{- end }}

{{/*
V8's heap limit for a role (its values are the context), below the container's memory limit: V8
sizes the heap from the memory it sees, lets garbage build up to several times the live heap when
it sees much, and is killed by the kernel rather than collecting harder when the container is full.
*/}}
{{- define "grapevine.heapEnv" -}}
{{- with .maxHeapMiB }}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" (int .) | quote }}
{{- end }}
{{- end }}

{{/* Pod and container security: non-root, read-only root filesystem, no capabilities. */}}
{{- define "grapevine.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "grapevine.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* A topology spread constraint for one component. Call with (dict "root" $ "component" "x" "spread" .Values.x.topologySpread). */}}
{{- define "grapevine.topologySpread" -}}
{{- if .spread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .spread.maxSkew }}
    topologyKey: {{ .spread.topologyKey | quote }}
    whenUnsatisfiable: {{ .spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "grapevine.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end }}

{{/*
gRPC probes on grpc.health.v1 (service "" is the process's overall health). Call with
(dict "port" <port> "probes" .Values.x.probes).
*/}}
{{- define "grapevine.grpcProbe" -}}
grpc:
  port: {{ .port }}
  service: ""
periodSeconds: {{ .probes.periodSeconds }}
timeoutSeconds: {{ .probes.timeoutSeconds }}
failureThreshold: {{ .probes.failureThreshold }}
{{- end }}

{{/* The scheduling values every workload shares. Call with a role's values. */}}
{{- define "grapevine.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Checks across values that a schema cannot state; each message says what to change. */}}
{{- define "grapevine.validate" -}}
{{- if and .Values.redis.enabled .Values.externalRedis.url }}
{{- fail "values: redis.enabled is true and externalRedis.url is set; choose one (set redis.enabled=false to use the external Redis)" }}
{{- end }}
{{- if and .Values.externalRedis.tlsCaSecret (not (hasPrefix "rediss://" .Values.externalRedis.url)) }}
{{- fail "values: externalRedis.tlsCaSecret is set but externalRedis.url is not a rediss:// URL; Redis over TLS needs rediss://" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) }}
{{- fail "values: the directory needs Redis: keep redis.enabled=true, or set externalRedis.url (e.g. redis://redis.example:6379/0)" }}
{{- end }}
{{- if and .Values.tls.clientAuth (not .Values.tls.enabled) }}
{{- fail "values: tls.clientAuth (mutual TLS) needs TLS: set tls.enabled=true, or tls.clientAuth=false" }}
{{- end }}
{{- if and .Values.tls.existingSecret (not .Values.tls.enabled) }}
{{- fail (printf "values: tls.existingSecret (%s) is set but tls.enabled is false; choose TLS or plaintext" .Values.tls.existingSecret) }}
{{- end }}
{{- if and .Values.tls.existingSecret (or .Values.tls.generated.extraDnsNames .Values.tls.generated.extraIpAddresses) }}
{{- fail "values: tls.generated.extraDnsNames and extraIpAddresses go into the certificate the chart generates; with tls.existingSecret, put those names in that Secret's certificate" }}
{{- end }}
{{- if ge (int .Values.tls.generated.renewBeforeDays) (int .Values.tls.generated.validityDays) }}
{{- fail (printf "values: tls.generated.renewBeforeDays (%d) must be less than validityDays (%d), or every upgrade signs a new certificate" (int .Values.tls.generated.renewBeforeDays) (int .Values.tls.generated.validityDays)) }}
{{- end }}
{{- range $role, $values := dict "directory" .Values.directory "introducer" .Values.introducer "hosts" .Values.hosts }}
{{- if or (eq (int $values.healthPort) (int $values.grpcPort)) (eq (int $values.healthPort) (int $values.metricsPort)) }}
{{- fail (printf "values: %s.healthPort (%d) must differ from its grpcPort (%d) and metricsPort (%d): it is a port of its own" $role (int $values.healthPort) (int $values.grpcPort) (int $values.metricsPort)) }}
{{- end }}
{{- end }}
{{- if and .Values.directory.autoscaling.enabled (gt (int .Values.directory.autoscaling.minReplicas) (int .Values.directory.autoscaling.maxReplicas)) }}
{{- fail (printf "values: directory.autoscaling.minReplicas (%d) must not exceed maxReplicas (%d)" (int .Values.directory.autoscaling.minReplicas) (int .Values.directory.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}

{{/*
How gossip members find each other besides the introducers' Service and the directory. In
plaintext: the headless Services of the hosts and of the introducers, whose DNS records list
every pod (ready or not). Under TLS a DNS seed does not do: a role dials the addresses the name
resolves to, and no certificate names a pod's IP, so the first pods of each StatefulSet are named
instead (`<pod>.<headless service>`, which the certificate's wildcards cover). The first member
that answers is enough, and three per role ride out a rolling restart.
*/}}
{{- define "grapevine.memberDnsSeeds" -}}
{{- $seeds := list }}
{{- if not .Values.tls.enabled }}
{{- if .Values.hosts.enabled }}
{{- $seeds = append $seeds (printf "%s.%s:%d" (include "grapevine.hostName" .) (include "grapevine.serviceDomain" .) (int .Values.hosts.grpcPort)) }}
{{- end }}
{{- if .Values.introducer.enabled }}
{{- $seeds = append $seeds (printf "%s.%s:%d" (include "grapevine.introducerHeadlessName" .) (include "grapevine.serviceDomain" .) (int .Values.introducer.grpcPort)) }}
{{- end }}
{{- end }}
{{- join "," $seeds }}
{{- end }}

{{- define "grapevine.memberNamedSeeds" -}}
{{- $seeds := list }}
{{- if .Values.tls.enabled }}
{{- $domain := include "grapevine.serviceDomain" . }}
{{- if .Values.introducer.enabled }}
{{- $name := include "grapevine.introducerName" . }}
{{- range $i := until (min 3 (int .Values.introducer.replicaCount) | int) }}
{{- $seeds = append $seeds (printf "%s-%d.%s.%s:%d" $name $i (include "grapevine.introducerHeadlessName" $) $domain (int $.Values.introducer.grpcPort)) }}
{{- end }}
{{- end }}
{{- if .Values.hosts.enabled }}
{{- $name := include "grapevine.hostName" . }}
{{- range $i := until (min 3 (int .Values.hosts.replicaCount) | int) }}
{{- $seeds = append $seeds (printf "%s-%d.%s.%s:%d" $name $i $name $domain (int $.Values.hosts.grpcPort)) }}
{{- end }}
{{- end }}
{{- end }}
{{- join "," $seeds }}
{{- end }}

{{/* NetworkPolicy pieces. */}}
{{- define "grapevine.metricsIngress" -}}
- ports:
    - port: {{ .port }}
      protocol: TCP
  {{- with .root.Values.networkPolicy.metricsFrom }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The plaintext health port is for the kubelet's probes, which come from the pod's own node, and
traffic from a pod's node passes every NetworkPolicy: so no rule opens it unless
networkPolicy.healthFrom names who else may (for a network plugin that filters the kubelet too).
Call with (dict "root" $ "port" n).
*/}}
{{- define "grapevine.healthIngress" -}}
{{- with .root.Values.networkPolicy.healthFrom }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - port: {{ $.port }}
      protocol: TCP
{{- end }}
{{- end }}

{{- define "grapevine.dnsEgress" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}

{{/* Egress to one component's pods on one port. Call with (dict "root" $ "component" "x" "port" n). */}}
{{- define "grapevine.egressTo" -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "grapevine.selectorLabels" . | nindent 10 }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}
