{{- define "guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "guard.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "guard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "guard.tlsSecret" -}}
{{ include "guard.fullname" . }}-tls
{{- end }}

{{- define "guard.serviceName" -}}
{{ include "guard.fullname" . }}
{{- end }}

{{/* The namespaces the guard never sees: its own and kube-system, plus any listed. */}}
{{- define "guard.namespaceSelector" -}}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values:
      - kube-system
      - {{ .Release.Namespace }}
      {{- range .Values.webhook.excludeNamespaces }}
      - {{ . }}
      {{- end }}
{{- end }}

{{/* Usernames allowed to switch, with service accounts in their authenticated form. */}}
{{- define "guard.switchUsers" -}}
{{- $users := list }}
{{- range .Values.policy.switchIdentities.users }}{{ $users = append $users . }}{{ end }}
{{- range .Values.policy.switchIdentities.serviceAccounts }}{{ $users = append $users (printf "system:serviceaccount:%s" .) }}{{ end }}
{{- toJson $users }}
{{- end }}

{{- define "guard.switchGroups" -}}
{{- $groups := list }}
{{- range .Values.policy.switchIdentities.groups }}{{ $groups = append $groups . }}{{ end }}
{{- with .Values.policy.switchIdentities.breakGlassGroup }}{{ $groups = append $groups . }}{{ end }}
{{- toJson $groups }}
{{- end }}

{{- define "guard.identitiesNamed" -}}
{{- $ids := .Values.policy.switchIdentities }}
{{- if or $ids.users $ids.groups $ids.serviceAccounts }}true{{ end }}
{{- end }}

{{/* The fields every webhook entry shares. */}}
{{- define "guard.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
matchPolicy: Equivalent
timeoutSeconds: {{ .root.Values.webhook.timeoutSeconds }}
namespaceSelector:
  {{- include "guard.namespaceSelector" .root | nindent 2 }}
clientConfig:
  service:
    name: {{ include "guard.serviceName" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path | default "/validate" }}
    port: 443
  {{- if .caBundle }}
  caBundle: {{ .caBundle }}
  {{- end }}
{{- end }}

{{/*
imageVerification.timeout, checked to stay below webhook.timeoutSeconds: a registry
slower than the budget must give the guard's refusal, not the API server's timeout.
*/}}
{{- define "guard.imageVerifyTimeout" -}}
{{- $timeout := .Values.imageVerification.timeout -}}
{{- $ms := 0 -}}
{{- if hasSuffix "ms" $timeout -}}
{{- $ms = trimSuffix "ms" $timeout | int -}}
{{- else -}}
{{- $ms = mul (trimSuffix "s" $timeout | int) 1000 -}}
{{- end -}}
{{- if ge (int $ms) (mul (int .Values.webhook.timeoutSeconds) 1000) -}}
{{- fail (printf "imageVerification.timeout (%s) must be below webhook.timeoutSeconds (%ds)" $timeout (int .Values.webhook.timeoutSeconds)) -}}
{{- end -}}
{{- $timeout -}}
{{- end }}
