# flowengine — the front door. `make run` and `make test` are the two commands.
GO        ?= go
BIN       := bin/flowengine
PIPELINE  ?= pipelines/default.hcl
# Debian packages the tests talk to: real exporters, SNMP agent, ClickHouse.
TEST_DEBS := softflowd pmacct snmpd snmp clickhouse-server libpcap0.8

.PHONY: all build run test test-deps bench bench-e2e lint fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/flowengine

run: build
	$(BIN) run $(PIPELINE)

# Install the Debian packages tests need (only when root and missing).
test-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or install them)"; fi; \
	fi

test: test-deps vet
	$(GO) test -count=1 -timeout 30m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-e2e: build
	./scripts/bench-e2e.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

lint: vet

fmt:
	gofmt -w .

clean:
	rm -rf bin
