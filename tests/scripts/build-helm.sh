#!/usr/bin/env bash
# Builds `helm` (helm.sh/helm/v3/cmd/helm at HELM_VERSION) from the Go module proxy once per machine
# and prints the binary's path. The binary is cached under $HOME/.cache/webstack-operator, keyed by
# the version (and this script's hash), so a warm run costs one stat. The tests use it to lint and render
# charts/webstack-operator. Go's own build and module caches stay in their default places under
# $HOME, never in the repository.
set -euo pipefail
version="${HELM_VERSION:-v3.22.0}"
# Keyed by the version and this script (its build flags).
key="$(sha256sum "$0" | cut -c1-8)"
out="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}/helm-$version-$key"
bin="$out/helm"
if [ ! -x "$bin" ]; then
  # One builder at a time (a background preparation may be building it): wait for it.
  mkdir -p "$(dirname "$out")"
  exec 9>"$out.lock"
  flock 9
fi
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "build-helm: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
  # Build with the installed Go only (no automatic toolchain download), after checking that it is
  # at least the version helm's go.mod asks for.
  export GOTOOLCHAIN=local
  gomod="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "helm.sh/helm/v3@$version" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [ -f "$gomod" ] || { echo "build-helm: cannot download helm.sh/helm/v3@$version's go.mod" >&2; exit 1; }
  need="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
  have="$(go env GOVERSION | sed 's/^go//')"
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
    echo "build-helm: helm $version needs Go >= $need; installed: $have" >&2
    exit 1
  fi
  # As helm's Makefile does: the Kubernetes version `helm template` and `helm lint` assume is the
  # one of the client-go helm is built with (v0.37.x -> 1.37), not helm's fallback (1.20).
  k8s="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod")"
  [ -n "$k8s" ] || { echo "build-helm: no k8s.io/client-go in helm's go.mod" >&2; exit 1; }
  mkdir -p "$out"
  echo "build-helm: building helm $version (Go >= $need; have $have) into $out (first run only)" >&2
  start=$(date +%s)
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s" \
    "helm.sh/helm/v3/cmd/helm@$version"
  mv "$tmp/helm" "$bin"
  echo "build-helm: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
