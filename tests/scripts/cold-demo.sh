#!/usr/bin/env bash
# Times a newcomer's first command, `cargo run --example demo`, as a fresh machine runs it: a clone of
# this checkout's HEAD in a temporary directory, a new, empty HOME (empty cargo registry, Go and pip
# caches, no $HOME/.cache/webstack-operator), cargo's default ./target. Prints the seconds until the
# demo says every object is Ready and until its full printout (the AWS resources read back), then
# stops it with Ctrl-C (SIGINT), as a user would.
#
#   bash tests/scripts/cold-demo.sh [--warm]     # --warm: then once more, everything cached
#
# The toolchains stay the machine's (RUSTUP_HOME, Go, Python). Log: $TMPDIR/webstack-cold-demo.*/demo-*.log.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/webstack-cold-demo.XXXXXX")"
git clone --quiet "$repo" "$work/clone"
mkdir -p "$work/home"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export PATH="$HOME/.cargo/bin:$PATH"
run() {
  local what="$1" log="$work/demo-$1.log" start=$(date +%s) ready= printed= pid
  echo "cold-demo: $what run, HOME=$work/home, log $log" >&2
  (cd "$work/clone" && exec env -u CARGO_TARGET_DIR -u WEBSTACK_CACHE_DIR -u GOPATH -u GOCACHE -u GOMODCACHE \
    HOME="$work/home" CARGO_HOME="$work/home/.cargo" setsid cargo run --example demo) >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$ready" ] && grep -q '^==> every object is Ready' "$log"; then
      ready=$(( $(date +%s) - start ))
      echo "cold-demo: every object Ready after ${ready}s" >&2
    fi
    # The printout ends with the commands to look around (kubectl, aws).
    if [ -n "$ready" ] && grep -q '^Press Ctrl-C to stop' "$log"; then
      printed=$(( $(date +%s) - start ))
      echo "cold-demo: printout complete after ${printed}s" >&2
      break
    fi
    sleep 1
  done
  kill -INT -- "-$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "$printed" ] || { echo "cold-demo: $what run never printed its result; tail of $log:" >&2; tail -20 "$log" >&2; return 1; }
  grep -E '^\s+Compiling|^warning: webstack-substrate' "$log" | wc -l | xargs -I{} echo "cold-demo: {} crates compiled" >&2
}
run cold
if [ "${1:-}" = "--warm" ]; then
  run warm
fi
