# torrow-hooks in a container: build with the Rust toolchain, run on a small Debian image.
#   docker build -t torrow-hooks .
#   docker run -d --name torrow-hooks -p 127.0.0.1:8080:8080 -v torrow-hooks-data:/data \
#     -e HOOKS_SERVER__ADMIN_TOKEN=… -e HOOKS_MAIL__SMTP_URL=smtps://… torrow-hooks
# See docs/deploy.md. TLS roots are built into the binary (rustls + webpki roots), so the runtime
# image needs no OpenSSL and no CA bundle.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin torrow-hooks

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /data --shell /usr/sbin/nologin torrow-hooks \
    && mkdir -p /data /etc/torrow-hooks && chown torrow-hooks:torrow-hooks /data
COPY --from=build /src/target/release/torrow-hooks /usr/local/bin/torrow-hooks
COPY templates /etc/torrow-hooks/templates
COPY Settings.toml /etc/torrow-hooks/Settings.toml
WORKDIR /etc/torrow-hooks
USER torrow-hooks
ENV HOOKS_SERVER__ADDR=0.0.0.0:8080 \
    HOOKS_DELIVERY__DATABASE=/data/outbox.sqlite \
    HOOKS_MAIL__DIR=/data/mail \
    HOOKS_LOG_SINK__PATH=/data/log-sink.jsonl \
    HOOKS_LOG__FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
# `docker stop` sends SIGTERM: the service finishes what it can within server.shutdown_grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/torrow-hooks"]
CMD ["serve"]
