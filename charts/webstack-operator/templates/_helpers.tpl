{{/* The chart's name, or nameOverride. */}}
{{- define "webstack-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of every object: fullnameOverride, else the release name (when it contains the
chart's name), else <release>-<chart>. */}}
{{- define "webstack-operator.fullname" -}}
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

{{- define "webstack-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webstack-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webstack-operator.labels" -}}
{{ include "webstack-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.additionalLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "webstack-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "webstack-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "webstack-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The CustomResourceDefinitions the operator checks at start-up (crds/). */}}
{{- define "webstack-operator.crdNames" -}}
[webstacks.webstack.io, targetgroups.webstack.io, listenerrules.webstack.io, containerservices.webstack.io, staticsites.webstack.io, webstackpolicies.webstack.io]
{{- end -}}

{{/* The rules of the controllers, in the watched namespace(s): a ClusterRole's without
watchNamespace, a Role's in watchNamespace with it. */}}
{{- define "webstack-operator.rules" -}}
# The five kinds: watch them, add/remove the finalizer.
- apiGroups: [webstack.io]
  resources: [webstacks]
  verbs: [get, list, watch, patch, update]
# The child kinds also as a stack's inline services and static site: written by server-side
# apply (create), restored (update), pruned (delete).
- apiGroups: [webstack.io]
  resources: [targetgroups, listenerrules, containerservices, staticsites]
  verbs: [get, list, watch, create, patch, update, delete]
# Children name their stack with blockOwnerDeletion: clusters that enforce owner references
# (the OwnerReferencesPermissionEnforcement admission plugin) require this.
- apiGroups: [webstack.io]
  resources: [webstacks/finalizers]
  verbs: [update]
# Their status, written by server-side apply.
- apiGroups: [webstack.io]
  resources: [webstacks/status, targetgroups/status, listenerrules/status, containerservices/status, staticsites/status]
  verbs: [get, patch, update]
{{- if not .Values.secretNamespaces }}
{{ include "webstack-operator.secretRule" . }}
{{- end }}
# An Event for every AWS mutation and drift correction.
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* The Secrets rule: in the controllers' ClusterRole or Role, or with secretNamespaces in a Role
of each of those namespaces only. */}}
{{- define "webstack-operator.secretRule" -}}
# The connection Secrets of a stack's database and cache: read, created when absent, replaced and
# deleted only while they carry the stack's ownerReference and label (never listed or watched).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, update, delete]
{{- end -}}

{{/* Cluster-scoped in every install: the start-up check that the CRDs are installed and
Established (limited to their names), and the WebStackPolicies with the namespaces they select. */}}
{{- define "webstack-operator.crdRule" -}}
# Start-up check that the six CRDs are installed and Established (by name).
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: {{ include "webstack-operator.crdNames" . }}
  verbs: [get]
# WebStackPolicies (cluster-scoped) and the namespaces they select by label, read cluster-wide
# also with watchNamespace; the policies' status (matched namespaces, conflicts) is written.
- apiGroups: [webstack.io]
  resources: [webstackpolicies]
  verbs: [get, list, watch]
- apiGroups: [webstack.io]
  resources: [webstackpolicies/status]
  verbs: [get, patch, update]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- end -}}

{{/* The subject of every binding: the operator's ServiceAccount. */}}
{{- define "webstack-operator.subject" -}}
- kind: ServiceAccount
  name: {{ include "webstack-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
