# syntax=docker/dockerfile:1
#
# The postdeploy image. Build from the repository root:
#   docker build -t postdeploy:0.1.0 .
# and run it as the binary, with the bundled scenarios and schemas as its
# defaults (the working directory is /postdeploy, as the repository root is
# for the binary):
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/reports:/postdeploy/reports" \
#     postdeploy:0.1.0 load --target https://api.example.com --users 16 --duration 1m
# (--user: so the run may write to your bind-mounted reports directory).
# Your own scenarios: mount them over /postdeploy/scenarios. Reports, and the
# run history (reports/history.sqlite) unless --history points elsewhere, go
# to the /postdeploy/reports volume. deploy/kubernetes/ runs this image as
# sharded Jobs.
#
# Multi-stage, as backend/Dockerfile: compile in the Rust image, run in
# distroless cc (glibc, CA certificates for HTTPS targets, no shell, no
# package manager) as its nonroot user, by number (65532) so Kubernetes'
# runAsNonRoot can verify it. Both stages are Debian 12 (bookworm): the
# binary links the glibc it was built against. The Rust version is pinned
# to one the lock file builds with (sqlx 0.9 needs 1.94 or later).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin postdeploy \
    && install -D target/release/postdeploy /out/postdeploy \
    && mkdir -p /out/reports

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/postdeploy /usr/local/bin/postdeploy
WORKDIR /postdeploy
COPY scenarios/ scenarios/
COPY schemas/ schemas/
COPY --from=build --chown=65532:65532 /out/reports reports/
USER 65532:65532
VOLUME ["/postdeploy/reports"]
ENTRYPOINT ["postdeploy"]
CMD ["--help"]
