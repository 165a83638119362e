#!/usr/bin/env bash
# Builds the operator's container image without a Docker daemon and prints the image directory.
#
# The same image as the Dockerfile, assembled with crane (go-containerregistry) instead of docker:
#   1. the static musl binary, checked to have no dynamic dependencies: by default the release
#      build (cargo build --release --locked --target x86_64-unknown-linux-musl, in
#      $CARGO_TARGET_DIR, else $HOME/.cache/webstack-operator/cargo-target), as the Dockerfile
#      builds it; or the musl binary named by WEBSTACK_IMAGE_BINARY, which CI sets to the one its
#      test build made (the same code in the dev profile: one compilation of the dependency tree
#      serves the tests, the lints and the image; see .ci/run);
#   2. crane, built from the Go module proxy once per version (build-crane.sh);
#   3. the image: a base layer standing in for gcr.io/distroless/static-debian12:nonroot (unreachable
#      here: Debian's CA bundle, /etc/passwd and /etc/group with nonroot 65532, /tmp 1777,
#      /home/nonroot), the binary's layer, and the Dockerfile's final-stage config (user 65532:65532,
#      entrypoint /webstack-operator, cmd run) plus the base's (env, working dir, linux/amd64). It is
#      pushed to a crane registry on a loopback port (crane mutate edits configs in a registry only),
#      validated there, pulled into an OCI layout and its root filesystem exported.
# The output directory, $HOME/.cache/webstack-operator/image-<key>, keyed by the hash of the binary,
# the CA bundle, this script and crane's version, holds:
#   oci/         the image as an OCI image layout (index.json, blobs/sha256/...)
#   config.json  its config (`crane config`)
#   rootfs/      its root filesystem (crane export), for tests/image.rs to run the operator from
#   facts        its digest and sizes: binary, compressed layers, uncompressed root filesystem
# A warm run costs the cargo freshness check and a few hashes. Progress goes to stderr.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${WEBSTACK_CACHE_DIR:-$HOME/.cache/webstack-operator}"
target_dir="${CARGO_TARGET_DIR:-$cache/cargo-target}"
triple=x86_64-unknown-linux-musl
ca_bundle=/etc/ssl/certs/ca-certificates.crt
say() { echo "build-image: $*" >&2; }
fail() { say "$*"; exit 1; }
mkdir -p "$cache"

# 1. The static binary.
if [ -n "${WEBSTACK_IMAGE_BINARY:-}" ]; then
  bin="$WEBSTACK_IMAGE_BINARY"
  [ -x "$bin" ] || fail "WEBSTACK_IMAGE_BINARY=$bin is not an executable"
  say "binary: $bin (WEBSTACK_IMAGE_BINARY)"
else
  if ! command -v musl-gcc >/dev/null; then
    [ "$(id -u)" = 0 ] || fail "musl-gcc is missing: apt-get install musl-tools"
    say "installing musl-tools (musl-gcc)"
    apt-get install -y --no-install-recommends musl-tools >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends musl-tools >&2; }
  fi
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple" >&2
  fi
  # Run from `cargo test` (tests/image.rs), this script inherits the variables cargo sets for a test
  # (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...). Some build scripts track them, so the release build
  # would start again from scratch: unset them.
  for v in $(compgen -e); do
    case "$v" in
      CARGO_MANIFEST_*|CARGO_PKG_*|CARGO_BIN_*|CARGO_CRATE_*|CARGO_PRIMARY_PACKAGE|CARGO_TARGET_TMPDIR) unset "$v" ;;
    esac
  done
  start=$(date +%s)
  # aws-lc-sys compiles its C with the target's C compiler: musl-gcc (its cc builder; no cmake needed).
  (cd "$repo" && CC_x86_64_unknown_linux_musl=musl-gcc CARGO_TARGET_DIR="$target_dir" \
    cargo build --release --locked --target "$triple" >&2)
  say "cargo build --release --target $triple: $(( $(date +%s) - start ))s"
  bin="$target_dir/$triple/release/webstack-operator"
fi

# No dynamic dependencies: no program interpreter, no shared library needed, `file` agrees.
# (Outputs in variables: `readelf | grep -q` under pipefail could fail on SIGPIPE and hide a match.)
program_headers="$(readelf -lW "$bin")"
dynamic_section="$(readelf -dW "$bin")"
if grep -q 'INTERP' <<<"$program_headers"; then fail "$bin has a program interpreter (dynamically linked)"; fi
if grep -q '(NEEDED)' <<<"$dynamic_section"; then fail "$bin needs shared libraries: $(grep NEEDED <<<"$dynamic_section")"; fi
if command -v file >/dev/null; then
  kind="$(file -b "$bin")"
  grep -Eq 'static-pie linked|statically linked' <<<"$kind" || fail "$bin is not static: $kind"
fi

# 2. crane, from the Go module proxy, once per version.
crane="$(bash "$repo/tests/scripts/build-crane.sh")"
crane_version="$(basename "$(dirname "$crane")")"

# 3. The image, unless this binary's is built already (one builder at a time: tests run this too).
exec 9>"$cache/image.lock"
flock 9
key="$( (sha256sum "$bin" "$ca_bundle" "$0" | cut -d' ' -f1; echo "$crane_version") | sha256sum | cut -c1-16)"
out="$cache/image-$key"
if [ -f "$out/facts" ]; then
  touch "$out"
  echo "$out"
  exit 0
fi
say "assembling the image into $out"
# Images of older binaries go after two days unused (a cache hit touches its directory).
find "$cache" -maxdepth 1 -name 'image-*' -mtime +2 -exec rm -rf {} + 2>/dev/null || true
work="$(mktemp -d)"
registry_pid=
cleanup() {
  [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
  rm -rf "$work" "$out.tmp"
}
trap cleanup EXIT

# The layers, as tarballs written by Python's tarfile: exact owners and modes whoever runs this,
# and reproducible (sorted, mtime 0), so the same inputs make the same layer digests.
python3 - "$work" "$bin" "$ca_bundle" <<'EOF'
import io, sys, tarfile
work, binary, ca_bundle = sys.argv[1:]
NONROOT = 65532

def add(tar, name, mode, data=None, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, 0
    info.uname = info.gname = "nonroot" if uid == NONROOT else "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

# What distroless static-debian12:nonroot gives a static binary (base/base.bzl in
# GoogleContainerTools/distroless): users and groups, the CA bundle, /tmp, the nonroot home.
passwd = (b"root:x:0:0:root:/root:/sbin/nologin\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
          b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
group = b"root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
with tarfile.open(f"{work}/base.tar", "w", format=tarfile.PAX_FORMAT) as tar:
    add(tar, "etc", 0o755)
    add(tar, "etc/group", 0o644, group)
    add(tar, "etc/nsswitch.conf", 0o644, b"hosts: files dns\n")
    add(tar, "etc/passwd", 0o644, passwd)
    add(tar, "etc/ssl", 0o755)
    add(tar, "etc/ssl/certs", 0o755)
    add(tar, "etc/ssl/certs/ca-certificates.crt", 0o644, open(ca_bundle, "rb").read())
    add(tar, "home", 0o755)
    add(tar, "home/nonroot", 0o700, uid=NONROOT, gid=NONROOT)
    add(tar, "root", 0o700)
    add(tar, "tmp", 0o1777)
# The Dockerfile's `COPY --from=build /webstack-operator /webstack-operator`.
with tarfile.open(f"{work}/operator.tar", "w", format=tarfile.PAX_FORMAT) as tar:
    add(tar, "webstack-operator", 0o755, open(binary, "rb").read())
EOF

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$crane" registry serve --address "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  "$crane" catalog --insecure "127.0.0.1:$port" >/dev/null 2>&1 && break
  kill -0 "$registry_pid" 2>/dev/null || fail "crane registry serve exited: $(cat "$work/registry.log")"
  sleep 0.1
done
ref="127.0.0.1:$port/webstack-operator"
"$crane" append --insecure --oci-empty-base -f "$work/base.tar" -f "$work/operator.tar" -t "$ref:layers" >&2
# The config: the base's environment and working directory, the Dockerfile's USER/ENTRYPOINT/CMD.
"$crane" mutate --insecure "$ref:layers" -t "$ref:dev" \
  --set-platform linux/amd64 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --workdir /home/nonroot \
  --user 65532:65532 \
  --entrypoint /webstack-operator \
  --cmd run >&2
"$crane" validate --insecure --remote "$ref:dev" >&2

mkdir -p "$out.tmp/rootfs"
"$crane" pull --insecure --format oci "$ref:dev" "$out.tmp/oci"
# Owned by whoever runs this (tests map that user to 65532 in a user namespace), modes kept.
"$crane" export --insecure "$ref:dev" - | tar -x -p -C "$out.tmp/rootfs" --no-same-owner
"$crane" config --insecure "$ref:dev" >"$out.tmp/config.json"

binary_bytes=$(stat -c %s "$bin")
layer_bytes=$("$crane" manifest --insecure "$ref:dev" \
  | python3 -c 'import json, sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
rootfs_bytes=$(find "$out.tmp/rootfs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
digest=$("$crane" digest --insecure "$ref:dev")
cat >"$out.tmp/facts" <<EOF
digest $digest
binary_bytes $binary_bytes
compressed_layers_bytes $layer_bytes
rootfs_bytes $rootfs_bytes
EOF
rm -rf "$out"
mv "$out.tmp" "$out"
say "image $digest: binary $((binary_bytes / 1024)) KiB, layers (gzip) $((layer_bytes / 1024)) KiB, root filesystem $((rootfs_bytes / 1024)) KiB"
echo "$out"
