#!/usr/bin/env bash
# Builds one of the project's Go test programs (tests/<dir>: its own go.mod) once per machine and
# prints the binary's path:  build-go-program.sh <dir> <binary name>
# The binary is cached under $HOME/.cache/webstack-operator, keyed by the hash of go.mod + go.sum +
# every *.go file, so a warm run costs one hash. Go's own build and module caches stay in their
# default places under $HOME ($HOME/.cache/go-build, $HOME/go/pkg/mod), never in the repository.
# One builder at a time per program (a lock): the demo and the tests may ask while a background
# preparation (tests/scripts/prepare-substrate.sh) is building it, and then wait for that build.
set -euo pipefail
dir="$1"
name="$2"
src="$(cd "$(dirname "$0")/../$dir" && pwd)"
key="$(cd "$src" && export LC_ALL=C && cat go.mod go.sum *.go | sha256sum | cut -c1-16)"
cache="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}"
out="$cache/$name-$key"
bin="$out/$name"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/$name.lock"
  flock 9
fi
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "$name: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
  mkdir -p "$out"
  echo "$name: building tests/$dir from Go modules into $out (first run only)" >&2
  start=$(date +%s)
  (cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "$name: built in $(( $(date +%s) - start ))s" >&2
fi
echo "$bin"
