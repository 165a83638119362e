{{- /*
CEL for the WebStackPolicy admission policies (webstack-policy-admission.yaml): the operator's
policy rules (src/reconcile/policy.rs) that need no AWS call, with its messages, in its order. A
glob of a policy (`*` any characters, `?` one) becomes an anchored regular expression: every RE2
metacharacter escaped, then `*` → `.*` and `?` → `.`.
*/ -}}

{{- define "webstack-operator.policy.regex" -}}
'^' + {{ . }}.replace('\\', '\\\\').replace('.', '\\.').replace('+', '\\+').replace('(', '\\(').replace(')', '\\)').replace('|', '\\|').replace('[', '\\[').replace(']', '\\]').replace('{', '\\{').replace('}', '\\}').replace('^', '\\^').replace('$', '\\$').replace('*', '.*').replace('?', '.') + '$'
{{- end }}

{{- /* The ARN of the private ECR repository an image names, or '' (model/registry.rs ecr_repository_of). */ -}}
{{- define "webstack-operator.policy.ecrArn" -}}
[{{ . }}].map(i, i.matches('^[0-9]{12}\\.dkr\\.ecr\\.[^./]+\\.amazonaws\\.com(\\.cn)?/')
  ? [i.substring(i.indexOf('/') + 1).split('@')[0]].map(n,
      [n.lastIndexOf(':') >= 0 && !n.substring(n.lastIndexOf(':') + 1).contains('/') ? n.substring(0, n.lastIndexOf(':')) : n].map(repo,
        repo == '' ? '' : 'arn:' + (i.split('/')[0].endsWith('.cn') ? 'aws-cn' : 'aws') + ':ecr:' + i.split('.')[3] + ':' + i.split('.')[0] + ':repository/' + repo)[0])[0]
  : '')[0]
{{- end }}

{{- /* A service's settings (check_service): '' or "<field below the settings>: <message> (rule <rule>". */ -}}
{{- define "webstack-operator.policy.service" -}}
[{{ . }}.?containers.orValue([]).map(c,
  [c.?secrets.orValue([]).map(s, s.?valueFrom.orValue('').startsWith('arn:') && !variables.secretArnsRe.exists(r, s.valueFrom.matches(r)))].map(bad,
    bad.exists(b, b)
    ? 'secrets[' + string(bad.indexOf(true)) + '].valueFrom: secret ' + c.secrets[bad.indexOf(true)].valueFrom + ' is not allowed (allow.secretArns: ' + variables.secretArnsHave + ') (rule secretArns'
    : c.?repositoryCredentialsArn.orValue('') != '' && !variables.secretArnsRe.exists(r, c.repositoryCredentialsArn.matches(r))
    ? 'repositoryCredentialsArn: secret ' + c.repositoryCredentialsArn + ' is not allowed (allow.secretArns: ' + variables.secretArnsHave + ') (rule secretArns'
    : [{{ include "webstack-operator.policy.ecrArn" "c.?image.orValue('')" }}].map(arn,
        arn != '' && !variables.ecrRepositoriesRe.exists(r, arn.matches(r))
        ? 'image: ECR repository ' + arn + ' is not allowed (allow.ecrRepositories: ' + variables.ecrRepositoriesHave + ') (rule ecrRepositories'
        : '')[0])[0])].map(ms,
  ms.exists(m, m != '')
  ? [ms.filter(m, m != '')[0]].map(f, 'containers[' + string(ms.indexOf(f)) + '].' + f)[0]
  : {{ . }}.?taskRoleArn.orValue('') != '' && !variables.taskRoleArnsRe.exists(r, {{ . }}.taskRoleArn.matches(r))
  ? 'taskRoleArn: role ' + {{ . }}.taskRoleArn + ' is not allowed (allow.taskRoleArns: ' + variables.taskRoleArnsHave + ') (rule taskRoleArns'
  : {{ . }}.?executionRoleArn.orValue('') != '' && !variables.executionRoleArnsRe.exists(r, {{ . }}.executionRoleArn.matches(r))
  ? 'executionRoleArn: role ' + {{ . }}.executionRoleArn + ' is not allowed (allow.executionRoleArns: ' + variables.executionRoleArnsHave + ') (rule executionRoleArns'
  : variables.maxTaskCpu >= 0 && size({{ . }}.?cpu.orValue('')) > 0 && size({{ . }}.cpu) < 19 && int({{ . }}.cpu) > variables.maxTaskCpu
  ? 'cpu: ' + string(int({{ . }}.cpu)) + ' is above the limit ' + string(variables.maxTaskCpu) + ' (rule maxTaskCpu'
  : variables.maxTaskMemory >= 0 && size({{ . }}.?memory.orValue('')) > 0 && size({{ . }}.memory) < 19 && int({{ . }}.memory) > variables.maxTaskMemory
  ? 'memory: ' + string(int({{ . }}.memory)) + ' is above the limit ' + string(variables.maxTaskMemory) + ' (rule maxTaskMemory'
  : variables.maxDesiredCount >= 0 && {{ . }}.?desiredCount.orValue(1) > variables.maxDesiredCount
  ? 'desiredCount: ' + string({{ . }}.?desiredCount.orValue(1)) + ' is above the limit ' + string(variables.maxDesiredCount) + ' (rule maxDesiredCount'
  : variables.maxDesiredCount >= 0 && {{ . }}.?autoscaling.?maxCapacity.orValue(0) > variables.maxDesiredCount
  ? 'autoscaling.maxCapacity: ' + string({{ . }}.autoscaling.maxCapacity) + ' is above the limit ' + string(variables.maxDesiredCount) + ' (rule maxDesiredCount'
  : '')[0]
{{- end }}

{{- /* A static site's settings (check_site): '' or "<field below the settings>: <message> (rule <rule>". */ -}}
{{- define "webstack-operator.policy.site" -}}
{{ . }}.?certificateArn.orValue('') != '' && !variables.certificateArnsRe.exists(r, {{ . }}.certificateArn.matches(r))
? 'certificateArn: certificate ' + {{ . }}.certificateArn + ' is not allowed (allow.certificateArns: ' + variables.certificateArnsHave + ') (rule certificateArns'
: {{ . }}.?webAclId.orValue('') != '' && !variables.webAclIdsRe.exists(r, {{ . }}.webAclId.matches(r))
? 'webAclId: web ACL ' + {{ . }}.webAclId + ' is not allowed (allow.webAclIds: ' + variables.webAclIdsHave + ') (rule webAclIds'
: ''
{{- end }}

{{- /* The variables every kind's policy shares: whether the policy (the param) governs the
object's namespace, by its labels (policy::selects), and its lists and limits. */ -}}
{{- define "webstack-operator.policy.variables" -}}
- name: labels
  expression: |-
      namespaceObject.metadata.?labels.orValue({})
- name: governs
  expression: |-
    !has(params.metadata.deletionTimestamp)
    && params.spec.namespaceSelector.?matchLabels.orValue({}).all(k,
         k in variables.labels && variables.labels[k] == params.spec.namespaceSelector.matchLabels[k])
    && params.spec.namespaceSelector.?matchExpressions.orValue([]).all(e,
         e.operator == 'In' ? (e.key in variables.labels && e.?values.orValue([]).exists(v, v == variables.labels[e.key]))
         : e.operator == 'NotIn' ? !(e.key in variables.labels && e.?values.orValue([]).exists(v, v == variables.labels[e.key]))
         : e.operator == 'Exists' ? e.key in variables.labels
         : e.operator == 'DoesNotExist' ? !(e.key in variables.labels)
         : false)
{{- range $list := list "secretArns" "ecrRepositories" "taskRoleArns" "executionRoleArns" "certificateArns" "webAclIds" "snsTopicArns" "adoptVpcIds" }}
- name: {{ $list }}Re
  expression: |-
      params.spec.?allow.?{{ $list }}.orValue([]).map(p, {{ include "webstack-operator.policy.regex" "p" }})
- name: {{ $list }}Have
  expression: |-
      [params.spec.?allow.?{{ $list }}.orValue([])].map(l, size(l) == 0 ? 'none' : l.join(', '))[0]
{{- end }}
{{- range $list := list "instanceTypes" "databaseInstanceClasses" "cacheNodeTypes" "natGateways" }}
- name: {{ $list }}
  expression: |-
      params.spec.?limits.?{{ $list }}.orValue([])
- name: {{ $list }}Re
  expression: |-
      params.spec.?limits.?{{ $list }}.orValue([]).map(p, {{ include "webstack-operator.policy.regex" "p" }})
{{- end }}
- name: regions
  expression: |-
      params.spec.?aws.?regions.orValue([])
- name: regionsRe
  expression: |-
      params.spec.?aws.?regions.orValue([]).map(p, {{ include "webstack-operator.policy.regex" "p" }})
{{- range $limit := list "maxTaskCpu" "maxTaskMemory" }}
- name: {{ $limit }}
  expression: |-
    [params.spec.?limits.?{{ $limit }}.orValue('')].map(m, size(m) > 0 && size(m) < 19 ? int(m) : -1)[0]
{{- end }}
{{- range $limit := list "maxDesiredCount" "maxInstances" "maxDatabaseStorageGiB" "maxCacheNodes" }}
- name: {{ $limit }}
  expression: |-
      params.spec.?limits.?{{ $limit }}.orValue(-1)
{{- end }}
{{- end }}
