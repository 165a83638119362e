#!/usr/bin/env bash
# Prepares the test substrate, each part once per machine (cached under $HOME/.cache/webstack-
# operator; every part's script takes a lock, so concurrent callers wait for one build):
#   prepare-substrate.sh            the emulator (moto venv) and the kube-apiserver: what the demo needs
#   prepare-substrate.sh --all      also helm, crane and luahealth: what the tests need besides
#   prepare-substrate.sh --needed   exits 0 when something of the default set is missing, 1 when not
# The emulator installs (mostly downloads) while the Go programs build, one after the other.
set -euo pipefail
scripts="$(cd "$(dirname "$0")" && pwd)"
cache="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}"

if [ "${1:-}" = "--needed" ]; then
  # The same cache keys as moto-venv.sh and build-go-program.sh.
  moto="$(sed -n 's/^MOTO_VERSION="\(.*\)"$/\1/p' "$scripts/moto-venv.sh")"
  key="$(cd "$scripts/../apiserver" && export LC_ALL=C && cat go.mod go.sum *.go | sha256sum | cut -c1-16)"
  [ -f "$cache/moto-$moto/.complete" ] && [ -x "$cache/testapiserver-$key/testapiserver" ] && exit 1
  exit 0
fi

timed() {
  local start=$(date +%s) out
  out="$(bash "$scripts/$1")"
  echo "prepare-substrate: $1: $(( $(date +%s) - start ))s ($out)" >&2
}
timed moto-venv.sh &
moto=$!
timed build-apiserver.sh
if [ "${1:-}" = "--all" ]; then
  timed build-helm.sh
  timed build-crane.sh
  timed build-luahealth.sh
fi
wait "$moto"
