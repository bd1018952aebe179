{{/*
The chart name, overridable with nameOverride.
*/}}
{{- define "hpoctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified name, truncated to 63 characters (the DNS label limit of some fields).
A release name that already contains the chart name is used as is.
*/}}
{{- define "hpoctl.fullname" -}}
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
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "hpoctl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. helm.sh/chart changes with every chart version, so it is never in selectors.
*/}}
{{- define "hpoctl.labels" -}}
helm.sh/chart: {{ include "hpoctl.chart" . }}
{{ include "hpoctl.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hpoctl
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades.
*/}}
{{- define "hpoctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hpoctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The namespace studies run in: namespace.name, else the release namespace.
*/}}
{{- define "hpoctl.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name }}
{{- end }}

{{/*
The trial ServiceAccount's name.
*/}}
{{- define "hpoctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-trial" (include "hpoctl.fullname" .) | trunc 63 | trimSuffix "-") .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The PriorityClass trials use: its name when created or named, else empty.
*/}}
{{- define "hpoctl.priorityClassName" -}}
{{- if .Values.priorityClass.create }}
{{- default (printf "%s-trial" (include "hpoctl.fullname" .) | trunc 63 | trimSuffix "-") .Values.priorityClass.name }}
{{- else }}
{{- .Values.priorityClass.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag}; an empty tag means the chart's appVersion.
Usage: include "hpoctl.image" (dict "image" .Values.images.trainer "context" $)
*/}}
{{- define "hpoctl.image" -}}
{{- printf "%s:%s" .image.repository (default .context.Chart.AppVersion .image.tag) }}
{{- end }}

{{/*
The claim name of a persistence entry: its existingClaim, else "<fullname>-<key>".
Usage: include "hpoctl.claimName" (dict "key" "data" "context" $)
*/}}
{{- define "hpoctl.claimName" -}}
{{- $p := index .context.Values.persistence .key }}
{{- if $p.existingClaim }}
{{- $p.existingClaim }}
{{- else }}
{{- printf "%s-%s" (include "hpoctl.fullname" .context) .key | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
A container securityContext that passes Pod Security Standard "restricted" on its own (no pod-level help).
*/}}
{{- define "hpoctl.restrictedSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAs.user }}
runAsGroup: {{ .Values.runAs.group }}
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The container securityContext every container of hpoctl gets: "restricted" plus a read-only root filesystem.
*/}}
{{- define "hpoctl.containerSecurityContext" -}}
{{ include "hpoctl.restrictedSecurityContext" . }}
readOnlyRootFilesystem: true
{{- end }}

{{/*
The pod securityContext of every pod the chart creates.
*/}}
{{- define "hpoctl.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAs.user }}
runAsGroup: {{ .Values.runAs.group }}
fsGroup: {{ .Values.runAs.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The katib-config `runtime.suggestions` entry of hpoctl-optuna, shared by the managed ConfigMap and NOTES.txt.
Katib adds the gRPC port 6789 and gRPC probes itself; everything else here is a corev1.Container inlined in
Katib's SuggestionConfig.
*/}}
{{- define "hpoctl.katibSuggestion" -}}
{{- $s := .Values.katib.suggestion -}}
algorithmName: {{ $s.algorithmName }}
image: {{ include "hpoctl.image" (dict "image" .Values.images.suggestion "context" .) }}
imagePullPolicy: {{ .Values.images.suggestion.pullPolicy }}
resources:
  {{- toYaml $s.resources | nindent 2 }}
securityContext:
  {{- include "hpoctl.containerSecurityContext" . | nindent 2 }}
volumeMountPath: {{ $s.volume.mountPath }}
persistentVolumeClaimSpec:
  accessModes:
    {{- toYaml $s.volume.accessModes | nindent 4 }}
  {{- with $s.volume.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $s.volume.size }}
{{- end }}

{{/*
nodeSelector and tolerations of a node pool, as pod spec fields. Usage:
include "hpoctl.nodePoolScheduling" (dict "pool" "a100" "context" $)
*/}}
{{- define "hpoctl.nodePoolScheduling" -}}
{{- if .pool }}
{{- $pool := index .context.Values.nodePools .pool }}
{{- if not $pool }}
{{- fail (printf "dataPrep.nodePool: %q is not a key of nodePools (%s)" .pool (keys .context.Values.nodePools | sortAlpha | join ", ")) }}
{{- end }}
{{- with $pool.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pool.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
hpoctl.yaml in the CLI's configuration format (hpoctl/config.py, snake_case keys): the node pools field for field
(description, nodeSelector -> node_selector, tolerations with tolerationSeconds -> toleration_seconds,
gpuResource -> gpu_resource, gpuSharing -> gpu_sharing) and the `katib:` section naming what this release created.
*/}}
{{- define "hpoctl.cliConfig" -}}
{{- $pools := dict }}
{{- range $name, $p := .Values.nodePools }}
{{- $tolerations := list }}
{{- range $p.tolerations }}
{{- $t := omit . "tolerationSeconds" }}
{{- if hasKey . "tolerationSeconds" }}
{{- $_ := set $t "toleration_seconds" .tolerationSeconds }}
{{- end }}
{{- $tolerations = append $tolerations $t }}
{{- end }}
{{- $pool := dict "node_selector" (default dict $p.nodeSelector) "tolerations" $tolerations "gpu_resource" (default "nvidia.com/gpu" $p.gpuResource) }}
{{- with $p.description }}
{{- $_ := set $pool "description" . }}
{{- end }}
{{- with $p.gpuSharing }}
{{- $_ := set $pool "gpu_sharing" . }}
{{- end }}
{{- $_ := set $pools $name $pool }}
{{- end }}
{{- $katib := dict "namespace" (include "hpoctl.namespace" .) }}
{{- range $key := list "data" "cache" "results" }}
{{- $p := index $.Values.persistence $key }}
{{- $_ := set $katib (printf "%s_pvc" $key) (ternary (include "hpoctl.claimName" (dict "key" $key "context" $)) nil $p.enabled) }}
{{- $_ = set $katib (printf "%s_mount" $key) $p.mountPath }}
{{- end }}
{{- $secretEnv := dict }}
{{- range .Values.secrets }}
{{- $_ := set $secretEnv .name (dict "secret" .secretName "key" .key "optional" (default false .optional)) }}
{{- end }}
{{- $_ := set $katib "secret_env" $secretEnv }}
{{- $_ = set $katib "service_account" (ternary (include "hpoctl.serviceAccountName" .) nil (or .Values.serviceAccount.create (ne .Values.serviceAccount.name ""))) }}
{{- $_ = set $katib "image_pull_secrets" (list) }}
{{- range .Values.imagePullSecrets }}
{{- $_ = set $katib "image_pull_secrets" (append $katib.image_pull_secrets .name) }}
{{- end }}
{{- $_ = set $katib "run_as_user" .Values.runAs.user }}
{{- $_ = set $katib "run_as_group" .Values.runAs.group }}
{{- $_ = set $katib "read_only_root_filesystem" true }}
{{- $_ = set $katib "suggestions" (list .Values.katib.suggestion.algorithmName) }}
{{- toYaml (dict "node_pools" $pools "katib" $katib) }}
{{- end }}
