# flowengine, as docker-compose.yml runs it, on a small base. cgo is on: the
# embedded DuckDB store is a C++ library linked into the binary (it needs
# libstdc++, which the base has).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/flowengine ./cmd/flowengine

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/flowengine --create-home flowengine
COPY --from=build /out/flowengine /usr/local/bin/flowengine
COPY pipelines /etc/flowengine/pipelines
WORKDIR /var/lib/flowengine
USER flowengine
ENTRYPOINT ["/usr/local/bin/flowengine"]
CMD ["run", "/etc/flowengine/pipelines/default.hcl"]
