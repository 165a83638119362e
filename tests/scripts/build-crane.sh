#!/usr/bin/env bash
# Builds crane (go-containerregistry) from the Go module proxy once per version and prints the
# binary's path. build-image.sh assembles the operator's image with it. Cached under
# $HOME/.cache/webstack-operator; one builder at a time (a lock).
set -euo pipefail
crane_version=v0.22.1
cache="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}"
crane_dir="$cache/crane-$crane_version"
crane="$crane_dir/crane"
if [ ! -x "$crane" ]; then
  mkdir -p "$cache"
  exec 9>"$crane_dir.lock"
  flock 9
fi
if [ ! -x "$crane" ]; then
  command -v go >/dev/null || { echo "build-crane: Go is required (https://go.dev/doc/install)" >&2; exit 1; }
  echo "build-crane: building crane $crane_version from the Go module proxy into $crane_dir (first run only)" >&2
  mkdir -p "$crane_dir"
  GOTOOLCHAIN=local GOBIN="$crane_dir" CGO_ENABLED=0 GOFLAGS=-trimpath \
    go install "github.com/google/go-containerregistry/cmd/crane@$crane_version" >&2
fi
echo "$crane"
