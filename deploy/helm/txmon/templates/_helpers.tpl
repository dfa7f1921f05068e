{{- define "txmon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "txmon.labels" -}}
app.kubernetes.io/name: txmon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "txmon.selector" -}}
app.kubernetes.io/name: txmon
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every TXMON_* setting: the generated defaults, overridden by .Values.config; nulls left out. */}}
{{- define "txmon.config" -}}
{{- $defaults := (.Files.Get "files/settings.yaml" | fromYaml).config -}}
{{- $merged := mergeOverwrite (deepCopy $defaults) (.Values.config | default dict) -}}
{{- range $key, $value := $merged }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "txmon.setting" -}}
{{- $defaults := (.root.Files.Get "files/settings.yaml" | fromYaml).config -}}
{{- $merged := mergeOverwrite (deepCopy $defaults) (.root.Values.config | default dict) -}}
{{- index $merged .key | toString -}}
{{- end -}}

{{- define "txmon.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "txmon.fullname" .)) -}}
{{- end -}}

{{- define "txmon.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The pod spec parts both components share: env, volumes, security. */}}
{{- define "txmon.envFrom" -}}
- configMapRef:
    name: {{ include "txmon.fullname" . }}-config
- secretRef:
    name: {{ include "txmon.secretName" . }}
{{- end -}}

{{- define "txmon.volumeMounts" -}}
- name: data
  mountPath: {{ include "txmon.setting" (dict "root" . "key" "TXMON_DATA_DIR") }}
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.secretName }}
- name: tls
  mountPath: {{ .Values.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "txmon.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if .Values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- end -}}
