# heaplab: multi-stage build, slim non-root runtime.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The C telemetry core is compiled into heaplab (contract tests, device twin).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
COPY firmware/lib firmware/lib
COPY benches benches
RUN cargo build --release --locked --bin heaplab

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --groups dialout --home /data heaplab \
    && mkdir -p /data && chown heaplab:heaplab /data
COPY --from=build /src/target/release/heaplab /usr/local/bin/heaplab
USER heaplab
WORKDIR /data
VOLUME ["/data"]
ENV HEAPLAB_DB=/data/heaplab.db \
    HEAPLAB_BIND=0.0.0.0:8080 \
    HEAPLAB_FIRST_TOKEN=true
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["heaplab"]
CMD ["serve"]
