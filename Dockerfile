# flowengine, as docker-compose.yml runs it, on a small base. cgo is on: the
# embedded DuckDB store is a C++ library linked into the binary (it needs
# libstdc++, which the base has). The web console is built with Node.js in a
# stage of its own and embedded by the second Go build.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/flowengine ./cmd/flowengine \
    && /out/flowengine stages > /out/stages.txt

# The console's docs page shows the stage reference of the binary above.
FROM node:20-bookworm-slim AS web
WORKDIR /src
COPY console/web/package.json console/web/package-lock.json console/web/
RUN cd console/web && npm ci --no-audit --no-fund
COPY README.md ./
COPY console/web console/web
COPY --from=build /out/stages.txt console/web/.gen/stages.txt
RUN cd console/web && npx vite build

FROM build AS build-console
COPY --from=web /src/console/web/dist/app console/web/dist/app
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/flowengine ./cmd/flowengine

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/flowengine --create-home flowengine
COPY --from=build-console /out/flowengine /usr/local/bin/flowengine
COPY pipelines /etc/flowengine/pipelines
WORKDIR /var/lib/flowengine
USER flowengine
ENTRYPOINT ["/usr/local/bin/flowengine"]
CMD ["run", "/etc/flowengine/pipelines/default.hcl"]
