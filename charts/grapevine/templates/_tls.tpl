{{/*
Transport security. Under TLS every role serves and dials with the certificate, key and CA of one
Secret (the chart's, or tls.existingSecret), mounted read-only at grapevine.tlsDir. The roles read
those files again every 10 s, and the kubelet updates a mounted Secret in place, so a renewed
certificate is used without a restart. With tls.enabled false every role is told plaintext, as the
roles demand: they refuse to start with neither.
*/}}
{{- define "grapevine.tlsDir" -}}
/etc/grapevine/tls
{{- end }}

{{- define "grapevine.tlsSecretName" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- include "grapevine.componentName" (dict "root" . "component" "tls") }}
{{- end }}
{{- end }}

{{- define "grapevine.tlsEnv" -}}
{{- $dir := include "grapevine.tlsDir" . }}
{{- if .Values.tls.enabled }}
- name: GRAPEVINE_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" $dir | quote }}
- name: GRAPEVINE_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" $dir | quote }}
- name: GRAPEVINE_TLS_CA_FILE
  value: {{ printf "%s/ca.crt" $dir | quote }}
- name: GRAPEVINE_TLS_CLIENT_AUTH
  value: {{ .Values.tls.clientAuth | toString | quote }}
{{- else }}
# tls.enabled is false: plaintext, chosen explicitly (for development only).
- name: GRAPEVINE_PLAINTEXT
  value: "true"
{{- end }}
{{- end }}

{{/* The TLS flags of the terminal commands, one argument each: --plaintext when TLS is off. */}}
{{- define "grapevine.tlsFlags" -}}
{{- $dir := include "grapevine.tlsDir" . }}
{{- $flags := list }}
{{- if .Values.tls.enabled }}
{{- $flags = list "--tls-ca-file" (printf "%s/ca.crt" $dir) }}
{{- if .Values.tls.clientAuth }}
{{- $flags = concat $flags (list "--tls-cert-file" (printf "%s/tls.crt" $dir) "--tls-key-file" (printf "%s/tls.key" $dir)) }}
{{- end }}
{{- else }}
{{- $flags = list "--plaintext" }}
{{- end }}
{{- join " " $flags }}
{{- end }}

{{- define "grapevine.tlsVolumeMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: {{ include "grapevine.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
The Secret's three files only (a generated Secret also holds the CA's key, which no pod needs).
Not through subPath: the kubelet updates only whole-volume mounts when the Secret changes.
*/}}
{{- define "grapevine.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "grapevine.tlsSecretName" . }}
    # 0440: readable by the pod's group (fsGroup), by nobody else.
    defaultMode: 288
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{/*
Every name the roles are dialled by, for the generated certificate (and, in NOTES.txt, for an
existing one): the directory's and the introducers' Services in each form a client may use
(short, namespaced, FQDN), the hosts' and introducers' headless Services and a wildcard for their
pods (each member advertises `<pod>.<headless service>.<namespace>.svc.<domain>`), localhost for
port-forwards (127.0.0.1 and ::1 are in grapevine.tlsIpAddresses), and
tls.generated.extraDnsNames (an exposed introducer's external name). Every role's name is listed whether the role is on or not, so turning one on
later does not need a new certificate.
*/}}
{{- define "grapevine.tlsDnsNames" -}}
{{- $namespace := .Release.Namespace }}
{{- $domain := include "grapevine.serviceDomain" . }}
{{- $names := list }}
{{- range $service := list (include "grapevine.componentName" (dict "root" . "component" "directory")) (include "grapevine.componentName" (dict "root" . "component" "introducer")) }}
{{- $names = concat $names (list $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s" $service $domain)) }}
{{- end }}
{{- range $headless := list (include "grapevine.introducerHeadlessName" .) (include "grapevine.hostName" .) }}
{{- $names = concat $names (list (printf "%s.%s" $headless $domain) (printf "*.%s.%s" $headless $domain)) }}
{{- end }}
{{- if eq (include "grapevine.redisTls" .) "true" }}
{{- $names = append $names (include "grapevine.redisHost" .) }}
{{- end }}
{{- $names = concat $names (list "localhost") .Values.tls.generated.extraDnsNames }}
{{- join "," ($names | uniq) }}
{{- end }}

{{- define "grapevine.tlsIpAddresses" -}}
{{- join "," (concat (list "127.0.0.1" "::1") .Values.tls.generated.extraIpAddresses | uniq) }}
{{- end }}

{{/*
The generated TLS Secret: the chart's own CA and the one certificate every role presents (as a
server, and as a client under mutual TLS), signed at install and kept on upgrade. An upgrade
signs a new certificate with the same CA when the names it must carry have changed or its end is
within tls.generated.renewBeforeDays, so members trust each other throughout; the roles read the
files again and need no restart. A new CA is made only when there is none yet or it is itself near its
end. Call with (dict "root" $ "existing" <the Secret in the cluster, or empty>):
templates/secret-tls.yaml passes what `lookup` finds, which under `helm template` and `helm lint`
(no cluster) is nothing, so they render a fresh CA every time.
*/}}
{{- define "grapevine.tlsSecret" -}}
{{- $root := .root }}
{{- $name := include "grapevine.tlsSecretName" $root }}
{{- $generated := $root.Values.tls.generated }}
{{- $dnsNames := list }}
{{- range include "grapevine.tlsDnsNames" $root | splitList "," }}
{{- $dnsNames = append $dnsNames . }}
{{- end }}
{{- $ipAddresses := list }}
{{- range include "grapevine.tlsIpAddresses" $root | splitList "," }}
{{- $ipAddresses = append $ipAddresses . }}
{{- end }}
{{- $namesSum := printf "%s|%s|%d" (join "," $dnsNames) (join "," $ipAddresses) (int $generated.validityDays) | sha256sum | trunc 32 }}
{{- $layout := "2006-01-02T15:04:05Z07:00" }}
{{- $renewBy := now | dateModify (printf "+%dh" (mul 24 (int $generated.renewBeforeDays))) }}
{{- $existing := .existing }}
{{- $data := dict }}
{{- $annotations := dict }}
{{- if $existing }}
{{- $data = $existing.data | default dict }}
{{- $annotations = $existing.metadata.annotations | default dict }}
{{- end }}
{{- $caCrt := "" }}
{{- $caKey := "" }}
{{- $caNotAfter := "" }}
{{- $caValid := and (hasKey $data "ca.crt") (hasKey $data "ca.key") (hasKey $annotations "grapevine/ca-not-after") }}
{{- if $caValid }}
{{- $caValid = gt ((toDate $layout (index $annotations "grapevine/ca-not-after")).Unix) $renewBy.Unix }}
{{- end }}
{{- $ca := dict }}
{{- if $caValid }}
{{- $ca = buildCustomCert (index $data "ca.crt") (index $data "ca.key") }}
{{- $caNotAfter = index $annotations "grapevine/ca-not-after" }}
{{- else }}
{{- $ca = genCA (printf "%s CA" (include "grapevine.fullname" $root)) (int $generated.caValidityDays) }}
{{- $caNotAfter = dateInZone $layout (now | dateModify (printf "+%dh" (mul 24 (int $generated.caValidityDays)))) "UTC" }}
{{- end }}
{{- $tlsCrt := "" }}
{{- $tlsKey := "" }}
{{- $notAfter := "" }}
{{- $keep := and $caValid (hasKey $data "tls.crt") (hasKey $data "tls.key") (hasKey $annotations "grapevine/certificate-not-after") }}
{{- $keep = and $keep (eq (index $annotations "grapevine/certificate-names" | default "") $namesSum) }}
{{- if $keep }}
{{- $keep = gt ((toDate $layout (index $annotations "grapevine/certificate-not-after")).Unix) $renewBy.Unix }}
{{- end }}
{{- if $keep }}
{{- $tlsCrt = index $data "tls.crt" }}
{{- $tlsKey = index $data "tls.key" }}
{{- $notAfter = index $annotations "grapevine/certificate-not-after" }}
{{- else }}
{{- $leaf := genSignedCert (include "grapevine.fullname" $root) $ipAddresses $dnsNames (int $generated.validityDays) $ca }}
{{- $tlsCrt = $leaf.Cert | b64enc }}
{{- $tlsKey = $leaf.Key | b64enc }}
{{- $notAfter = dateInZone $layout (now | dateModify (printf "+%dh" (mul 24 (int $generated.validityDays)))) "UTC" }}
{{- end }}
{{- if $caValid }}
{{- $caCrt = index $data "ca.crt" }}
{{- $caKey = index $data "ca.key" }}
{{- else }}
{{- $caCrt = $ca.Cert | b64enc }}
{{- $caKey = $ca.Key | b64enc }}
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  labels:
    {{- include "grapevine.labels" (dict "root" $root "component" "tls") | nindent 4 }}
  annotations:
    # What the next upgrade compares to decide whether to sign a new certificate.
    grapevine/certificate-names: {{ $namesSum | quote }}
    grapevine/certificate-not-after: {{ $notAfter | quote }}
    grapevine/ca-not-after: {{ $caNotAfter | quote }}
type: kubernetes.io/tls
data:
  tls.crt: {{ $tlsCrt | quote }}
  tls.key: {{ $tlsKey | quote }}
  ca.crt: {{ $caCrt | quote }}
  # Signs the next certificate on upgrade; no pod mounts it.
  ca.key: {{ $caKey | quote }}
{{- end }}
