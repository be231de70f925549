# syntax=docker/dockerfile:1
# colloquy-gateway: build from the repository root with
#   docker build -f deploy/docker/gateway.Dockerfile -t colloquy-gateway:0.1.0 .
# BuildKit reads gateway.Dockerfile.dockerignore beside this file, so the context skips
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
    cargo build --release --locked -p colloquy-gateway --bin colloquy-gateway \
    && install -D -m 0755 target/release/colloquy-gateway /out/usr/local/bin/colloquy-gateway \
    && install -d -m 0750 /out/var/lib/colloquy/outbox

# distroless/cc has glibc, libgcc and the CA certificates that the provider HTTPS clients
# verify against, and no shell or package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="colloquy-gateway" \
      org.opencontainers.image.description="gRPC gateway streaming chat completions from LLM providers" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/usr/local/bin/colloquy-gateway /usr/local/bin/colloquy-gateway
# The outbox directory exists and belongs to the runtime user, so a volume mounted there by
# docker inherits that ownership (Kubernetes sets it with fsGroup instead).
COPY --from=builder --chown=65532:65532 /out/var/lib/colloquy /var/lib/colloquy
USER 65532:65532
# 50051: gRPC (ChatGateway, health, reflection); 9464: Prometheus metrics.
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/colloquy-gateway"]
