{{/* Chart name. */}}
{{- define "je.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: also the app.kubernetes.io/managed-by value on Jobs (FULL_DEPLOYMENT_NAME). */}}
{{- define "je.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "je.selectorLabels" -}}
app.kubernetes.io/name: {{ include "je.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "je.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "je.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: job-executor
{{- end -}}

{{- define "je.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "je.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Jobs' default ServiceAccount; empty when none is created or named. */}}
{{- define "je.jobServiceAccountName" -}}
{{- if .Values.jobs.serviceAccount.create -}}
{{- default (printf "%s-job" (include "je.fullname" .)) .Values.jobs.serviceAccount.name -}}
{{- else -}}
{{- .Values.jobs.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "je.jobNamespace" -}}
{{- default .Release.Namespace .Values.jobs.namespace -}}
{{- end -}}

{{/* The job namespaces, one per line: the default one first, then extraNamespaces (deduplicated). */}}
{{- define "je.jobNamespaces" -}}
{{- $all := list (include "je.jobNamespace" .) -}}
{{- range .Values.jobs.extraNamespaces -}}
{{- $all = append $all . -}}
{{- end -}}
{{- $all | uniq | join "\n" -}}
{{- end -}}

{{- define "je.keptnTokenSecret" -}}
{{- if .Values.keptnApi.existingSecret -}}
{{- .Values.keptnApi.existingSecret -}}
{{- else if .Values.keptnApi.token -}}
{{- printf "%s-keptn-api-token" (include "je.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "je.keptnTokenKey" -}}
{{- if .Values.keptnApi.existingSecret -}}
{{- .Values.keptnApi.existingSecretKey -}}
{{- else -}}
keptn-api-token
{{- end -}}
{{- end -}}

{{- define "je.authSecret" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if .Values.auth.token -}}
{{- printf "%s-auth-token" (include "je.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "je.authKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecretKey -}}
{{- else -}}
auth-token
{{- end -}}
{{- end -}}

{{/* Mode checks: fail early, at render time, with the value at fault. */}}
{{- define "je.validate" -}}
{{- if and .Values.distributor.enabled (ne .Values.transport "http") -}}
{{- fail "distributor.enabled needs transport: http (the distributor pushes events over HTTP)" -}}
{{- end -}}
{{- if and (eq .Values.transport "keptn-api") (not .Values.keptnApi.endpoint) -}}
{{- fail "transport: keptn-api needs keptnApi.endpoint" -}}
{{- end -}}
{{- if and .Values.distributor.enabled (include "je.authSecret" .) -}}
{{- fail "auth.token/auth.existingSecret cannot be used with distributor.enabled: the distributor sends no token" -}}
{{- end -}}
{{- if and .Values.keptnApi.token .Values.keptnApi.existingSecret -}}
{{- fail "set keptnApi.token or keptnApi.existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.auth.token .Values.auth.existingSecret -}}
{{- fail "set auth.token or auth.existingSecret, not both" -}}
{{- end -}}
{{- if and (ne .Values.jobConfig.source "local") (or .Values.jobConfig.files .Values.jobConfig.existingConfigMap) -}}
{{- fail "jobConfig.files and jobConfig.existingConfigMap are for jobConfig.source: local" -}}
{{- end -}}
{{- if and .Values.jobConfig.existingConfigMap .Values.jobConfig.files -}}
{{- fail "set jobConfig.files or jobConfig.existingConfigMap, not both" -}}
{{- end -}}
{{- end -}}
