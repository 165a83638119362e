#!/usr/bin/env bash
# Prints deploy/webstack-operator.yaml: the chart rendered for a plain install (helm template with
# deploy/webstack-operator.values.yaml, release webstack-operator in webstack-system). Regenerate:
#   bash tests/scripts/render-deploy.sh > deploy/webstack-operator.yaml
# The test chart::deploy_manifest_is_the_rendered_chart fails while the file differs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
helm="$(bash "$root/tests/scripts/build-helm.sh")"
cd "$root"
echo "# GENERATED from charts/webstack-operator by tests/scripts/render-deploy.sh: do not edit."
echo "# A plain install: see deploy/README.md (replace WEBSTACK_CLUSTER_ID first)."
HELM_CACHE_HOME="${TMPDIR:-/tmp}/webstack-helm-home/cache" HELM_CONFIG_HOME="${TMPDIR:-/tmp}/webstack-helm-home/config" \
  HELM_DATA_HOME="${TMPDIR:-/tmp}/webstack-helm-home/data" \
  "$helm" template webstack-operator charts/webstack-operator --namespace webstack-system \
  -f deploy/webstack-operator.values.yaml
