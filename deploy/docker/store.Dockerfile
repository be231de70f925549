# syntax=docker/dockerfile:1
# colloquy-store: build from the repository root with
#   docker build -f deploy/docker/store.Dockerfile -t colloquy-store:0.1.0 .
# BuildKit reads store.Dockerfile.dockerignore beside this file, so the context skips
# target/ and .git/ without a .dockerignore at the repository root.

FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole workspace is copied because cargo resolves every member's manifest, even when
# building one package.
COPY . .
# Cache mounts keep the registry and the target directory between builds; the target
# directory is a cache, not a layer, so the binary is copied out within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p colloquy-store --bin colloquy-store \
    && install -D -m 0755 target/release/colloquy-store /out/usr/local/bin/colloquy-store

# distroless/cc has glibc, libgcc and CA certificates (for TLS to Postgres), and no shell
# or package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="colloquy-store" \
      org.opencontainers.image.description="Colloquy conversation store: conversations, token usage and costs over gRPC" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/usr/local/bin/colloquy-store /usr/local/bin/colloquy-store
USER 65532:65532
# The default SQLite URL is relative (./data/...); a writable working directory keeps that
# default usable for a quick `docker run`. Production sets a Postgres URL.
WORKDIR /home/nonroot
# 50052: gRPC (ConversationStore, health, reflection); 9465: Prometheus metrics.
EXPOSE 50052 9465
# `colloquy-store` serves; `colloquy-store migrate` applies the migrations and exits.
ENTRYPOINT ["/usr/local/bin/colloquy-store"]
