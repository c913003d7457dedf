{{/* Names, labels, images, URLs and the hardened security settings every pod of the chart shares. */}}

{{- define "flint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: the release name, with the chart name unless it already holds it. */}}
{{- define "flint.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "flint.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "gateway"). */}}
{{- define "flint.labels" -}}
{{ include "flint.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: flint
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The labels that select one component's pods; stable across upgrades. */}}
{{- define "flint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flint.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* One of Flint's images by short name; call with (dict "root" $ "name" "flint-gateway"). */}}
{{- define "flint.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "flint.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "flint.fullname" .)) -}}
{{- end -}}

{{- define "flint.natsUrl" -}}
{{- .Values.nats.url | default (printf "nats://%s-nats.%s.svc:4222" (include "flint.fullname" .) .Release.Namespace) -}}
{{- end -}}

{{- define "flint.redisUrl" -}}
{{- .Values.redis.url | default (printf "redis://%s-redis.%s.svc:6379" (include "flint.fullname" .) .Release.Namespace) -}}
{{- end -}}

{{/* Base of Function status URLs: publicUrl, else the Ingress host, else the gateway Service. */}}
{{- define "flint.gatewayUrl" -}}
{{- if .Values.gateway.publicUrl -}}
{{- .Values.gateway.publicUrl | trimSuffix "/" -}}
{{- else if and .Values.gateway.ingress.enabled .Values.gateway.ingress.host -}}
{{- printf "https://%s" .Values.gateway.ingress.host -}}
{{- else -}}
{{- $port := int .Values.gateway.service.port -}}
{{- printf "http://%s-gateway.%s%s" (include "flint.fullname" .) .Release.Namespace (ternary "" (printf ":%d" $port) (eq $port 80)) -}}
{{- end -}}
{{- end -}}

{{/* FLINT_NAMESPACES: "*" for all, else the comma-separated list. */}}
{{- define "flint.namespaces" -}}
{{- if .Values.watchNamespaces -}}{{ join "," .Values.watchNamespaces }}{{- else -}}*{{- end -}}
{{- end -}}

{{/* Pod-level hardening, the same as function pods get (controller/builders.ts). */}}
{{- define "flint.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level hardening: read-only root, no privilege escalation, every capability dropped. */}}
{{- define "flint.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pod scheduling settings and pull secrets; call with (dict "root" $ "values" .Values.gateway). */}}
{{- define "flint.scheduling" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A component's permissions on Functions and their objects: a ClusterRole and ClusterRoleBinding when
every namespace is watched, else a Role and RoleBinding in each watched namespace. Call with
(dict "root" $ "component" "controller" "rules" (include "flint.controllerRules" $)).
*/}}
{{- define "flint.functionRbac" -}}
{{- $root := .root -}}
{{- $name := printf "%s-%s" (include "flint.fullname" $root) .component -}}
{{- $labels := include "flint.labels" (dict "root" $root "component" .component) -}}
{{- $namespaces := $root.Values.watchNamespaces | default (list "") -}}
{{- range $namespaces }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ ternary "Role" "ClusterRole" (ne . "") }}
metadata:
  name: {{ $name }}
  {{- if ne . "" }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- $labels | nindent 4 }}
rules:
  {{- $.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ ternary "RoleBinding" "ClusterRoleBinding" (ne . "") }}
metadata:
  name: {{ $name }}
  {{- if ne . "" }}
  namespace: {{ . }}
  {{- end }}
  labels:
    {{- $labels | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ ternary "Role" "ClusterRole" (ne . "") }}
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}
{{- end -}}
