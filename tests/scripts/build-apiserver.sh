#!/usr/bin/env bash
# Builds the test kube-apiserver (tests/apiserver) once per machine and prints the binary's path.
# The binary is cached under $HOME/.cache/webstack-operator, keyed by the hash of go.mod + go.sum +
# every *.go file (main.go, controllers.go), so a warm run costs one hash. Go's own build and module
# caches stay in their default places under $HOME ($HOME/.cache/go-build, $HOME/go/pkg/mod), never in
# the repository.
set -euo pipefail
src="$(cd "$(dirname "$0")/../apiserver" && pwd)"
key="$(cd "$src" && export LC_ALL=C && cat go.mod go.sum *.go | sha256sum | cut -c1-16)"
out="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}/testapiserver-$key"
bin="$out/testapiserver"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "build-apiserver: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
  mkdir -p "$out"
  echo "build-apiserver: building kube-apiserver from Go modules into $out (first run only)" >&2
  start=$(date +%s)
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "build-apiserver: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
