#!/usr/bin/env bash
# Runs CI as a fresh machine runs it: a clone of this checkout's HEAD in a temporary directory, with a
# new, empty HOME (so empty cargo registry, Go module and build caches, pip cache and the project's
# $HOME/.cache/webstack-operator), and prints each step's time (from .ci/run) and the total.
#
#   bash tests/scripts/cold-ci.sh            # cold: everything from scratch
#   bash tests/scripts/cold-ci.sh --warm     # then once more on the same HOME: the warm figure
#
# The toolchains stay the machine's (RUSTUP_HOME, Go, Python, musl-tools): a fresh machine of this
# kind has them, or installs the musl target and musl-tools in seconds (.ci/run does). Logs:
# $TMPDIR/webstack-cold-ci.*/ci-{cold,warm}.log; the directory is kept for inspection.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/webstack-cold-ci.XXXXXX")"
git clone --quiet "$repo" "$work/clone"
mkdir -p "$work/home"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
# cargo's own binaries (the rustup proxies) stay on PATH; its registry and git caches go to the new HOME.
export PATH="$HOME/.cargo/bin:$PATH"
run() {
  local what="$1" start=$(date +%s)
  echo "cold-ci: $what run, HOME=$work/home, log $work/ci-$what.log" >&2
  if env -u CARGO_TARGET_DIR -u WEBSTACK_CACHE_DIR -u GOPATH -u GOCACHE -u GOMODCACHE \
      HOME="$work/home" CARGO_HOME="$work/home/.cargo" CI=true \
      bash "$work/clone/.ci/run" >"$work/ci-$what.log" 2>&1; then
    result=passed
  else
    result=FAILED
  fi
  grep -E '^==> |^tests: ' "$work/ci-$what.log" >&2 || true
  echo "cold-ci: $what run $result in $(( $(date +%s) - start ))s" >&2
  [ "$result" = passed ]
}
run cold
if [ "${1:-}" = "--warm" ]; then
  run warm
fi
