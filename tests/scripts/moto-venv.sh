#!/usr/bin/env bash
# Creates (once per machine) a virtualenv with a pinned moto[server], the local AWS emulator the
# integration tests run against, and prints the path of its moto_server executable.
# The venv lives under $HOME/.cache/webstack-operator, keyed by the pinned version.
set -euo pipefail
MOTO_VERSION="5.2.5"
venv="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}/moto-$MOTO_VERSION"
if [ ! -f "$venv/.complete" ]; then
  # One installer at a time (a background preparation may be installing it): wait for it.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
fi
if [ ! -f "$venv/.complete" ]; then
  python="$(command -v python3 || true)"
  [ -n "$python" ] || { echo "moto-venv: Python 3 is required" >&2; exit 1; }
  echo "moto-venv: creating $venv (first run only)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  touch "$venv/.complete"   # written last: an interrupted install is redone, never half-used
fi
echo "$venv/bin/moto_server"
