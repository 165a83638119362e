#!/usr/bin/env bash
# Builds `helm` once per machine and prints the binary's path. The tests use it to lint and render
# charts/webstack-operator. helm is a tool of the Go test tools' module, tests/apiserver (its go.mod's
# `tool helm.sh/helm/v3/cmd/helm`, at the version that module requires): one module graph with the
# test API server, so helm's Kubernetes libraries are the API server's versions and its build reuses
# what the API server's build compiled (Go's build cache). Cached under $HOME/.cache/webstack-operator,
# keyed by that module's go.mod and go.sum and this script, so a warm run costs one hash; one builder at a
# time (a lock). Go's own caches stay in their default places under $HOME, never in the repository.
set -euo pipefail
src="$(cd "$(dirname "$0")/../apiserver" && pwd)"
key="$( (cd "$src" && cat go.mod go.sum; cat "$0") | sha256sum | cut -c1-16)"
out="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}/helm-$key"
bin="$out/helm"
if [ ! -x "$bin" ]; then
  # One builder at a time (a background preparation may be building it): wait for it.
  mkdir -p "$(dirname "$out")"
  exec 9>"$out.lock"
  flock 9
fi
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "build-helm: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
  export GOTOOLCHAIN=local
  # The version the module requires, and (as helm's Makefile does) the Kubernetes version `helm
  # template` and `helm lint` assume: the client-go helm is built with (v0.35.x -> 1.35), not 1.20.
  version="$(cd "$src" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
  k8s="$(cd "$src" && go list -m -f '{{.Version}}' k8s.io/client-go | sed -n 's/^v0\.\([0-9]*\)\..*/\1/p')"
  [ -n "$version" ] && [ -n "$k8s" ] || { echo "build-helm: no helm or client-go in $src/go.mod" >&2; exit 1; }
  mkdir -p "$out"
  echo "build-helm: building helm $version (Kubernetes 1.$k8s) from tests/apiserver's module into $out (first run only)" >&2
  start=$(date +%s)
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" \
    -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s" \
    helm.sh/helm/v3/cmd/helm)
  mv "$bin.tmp" "$bin"
  echo "build-helm: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
