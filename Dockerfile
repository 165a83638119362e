# syntax=docker/dockerfile:1
#
# The operator's container image: one static (musl) binary on distroless static, non-root.
#
#   docker build -t webstack-operator .
#
# tests/scripts/build-image.sh assembles the same image without a Docker daemon (crane), and
# `cargo test --test image` runs the operator from that image's root filesystem and checks that
# this file and the script agree (base, user, entrypoint, command): change both together.

# Build stage: the official Rust image of Cargo.toml's rust-version, on Debian bookworm.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
# aws-lc-sys (the TLS crypto of kube and the AWS SDK) compiles C: with musl-gcc for this target.
ENV CC_x86_64_unknown_linux_musl=musl-gcc
WORKDIR /src
# Only what the release binary is built from (the crate has no build script; tests are not built).
# tests/substrate is a dev-dependency: cargo reads its manifest to resolve, never builds it here.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests/substrate ./tests/substrate
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/webstack-operator /webstack-operator

# Final stage: no shell, no libc; CA certificates (/etc/ssl/certs/ca-certificates.crt), /etc/passwd
# with nonroot (65532) and a /tmp come with the base. The binary needs the CA bundle at runtime: the
# AWS SDK verifies AWS's certificates against the system's roots (rustls-native-certs reads
# SSL_CERT_FILE, which the base sets); kube trusts the cluster CA the service account mounts.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /webstack-operator /webstack-operator
USER 65532:65532
ENTRYPOINT ["/webstack-operator"]
CMD ["run"]
