# flowengine — the front door. `make run` and `make test` are the two commands.
GO        ?= go
BIN       := bin/flowengine
PIPELINE  ?= pipelines/default.hcl
# Recipes use pipefail (test output goes through a filter).
SHELL     := /bin/bash
# Debian packages the tests talk to: real exporters, SNMP agent, ClickHouse.
TEST_DEBS := softflowd pmacct snmpd snmp clickhouse-server libpcap0.8 chromium gobgpd
# A current ClickHouse for the tests: libchdb.so of this npm package, cached
# outside the repository (~570 MB); FLOWENGINE_CHDB_LIB points elsewhere.
CHDB_VERSION := 26.7.3-stable.1
CHDB_DIR     := $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/flowengine/chdb-$(CHDB_VERSION)
# The web console (console/web): TypeScript built by Vite, embedded in the binary.
WEB       := console/web
WEB_SRC   := $(shell find $(WEB)/src $(WEB)/build -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json README.md
WEB_DIST  := $(WEB)/dist/app/index.html
WEB_DEPS  := $(WEB)/node_modules/.package-lock.json

.PHONY: all build run demo first-minutes test test-deps chdb bench bench-e2e bench-query lint fmt vet clean web web-test

all: build

# The binary, with the web console: the stage reference the console's docs
# page shows comes from the binary itself, so it is built twice (the second
# build only embeds the fresh bundle).
build:
	$(GO) build -o $(BIN) ./cmd/flowengine
	@mkdir -p $(WEB)/.gen && $(BIN) stages > $(WEB)/.gen/stages.txt.new && \
	  (cmp -s $(WEB)/.gen/stages.txt.new $(WEB)/.gen/stages.txt || mv $(WEB)/.gen/stages.txt.new $(WEB)/.gen/stages.txt); \
	  rm -f $(WEB)/.gen/stages.txt.new
	@$(MAKE) --no-print-directory web
	$(GO) build -o $(BIN) ./cmd/flowengine

web: $(WEB_DIST)

$(WEB_DEPS): $(WEB)/package-lock.json $(WEB)/package.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB_DIST): $(WEB_DEPS) $(WEB_SRC) $(wildcard $(WEB)/.gen/stages.txt)
	cd $(WEB) && npx vite build --logLevel warn

# Unit tests of the console's TypeScript (state and URL, units, time ranges).
web-test: $(WEB_DEPS)
	cd $(WEB) && npx tsc --noEmit && npx vitest run --reporter=dot

# `make run`: the default pipeline (its console on http://127.0.0.1:8080/ once
# it has one) fed by three synthetic exporters (NetFlow v9 from 127.0.0.1-3,
# with SNMP agents on port 1161 serving their interface names, and BMP
# sessions to the pipeline's port 10179 carrying their BGP routes: AS paths,
# communities), so that the first minutes show traffic; `make run DEMO=0`
# runs the pipeline alone, for real routers. Ctrl-C stops both.
DEMO ?= 1
run: build
ifeq ($(DEMO),0)
	$(BIN) run $(PIPELINE)
else
	$(BIN) run -var snmp_port=1161 $(PIPELINE) & pid=$$!; \
	trap "kill $$pid 2>/dev/null; wait $$pid" EXIT INT TERM; \
	sleep 1; $(BIN) exporter -collector 127.0.0.1:2055 -protocol netflow9 -exporters 3 -interfaces 12 \
	  -rate 2000 -template-interval 5s -snmp-port 1161 -bmp 127.0.0.1:10179 -quiet
endif

# The same as `make run` (kept for those who learnt it).
demo:
	@$(MAKE) --no-print-directory run DEMO=1

# Install the Debian packages tests need (as root), or fail listing the
# missing ones and how to install them: without them the tests of real
# components (exporters, SNMP agent, ClickHouse, the browser) cannot run.
test-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
	      { echo "could not install the Debian packages:$$missing"; exit 1; }; \
	  else \
	    echo "make test needs these Debian packages, missing here:$$missing"; \
	    echo "install them (or run make test as root, which does):"; \
	    echo "  sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi

# Fetch libchdb.so (ClickHouse 26.7) into the cache once, with npm. Without
# it the 26.7 tests skip, saying how to get it (under CI=true they fail).
chdb:
	@if [ -n "$$FLOWENGINE_CHDB_LIB" ]; then \
	  test -f "$$FLOWENGINE_CHDB_LIB" || echo "FLOWENGINE_CHDB_LIB=$$FLOWENGINE_CHDB_LIB: no such file"; \
	elif [ "$$(uname -sm)" != "Linux x86_64" ]; then \
	  echo "libchdb.so: no npm package for $$(uname -sm); the ClickHouse 26.7 tests skip"; \
	elif [ -f "$(CHDB_DIR)/libchdb.so" ]; then :; \
	elif ! command -v npm >/dev/null; then \
	  echo "npm not found: cannot fetch libchdb.so (install Node.js and npm)"; \
	else \
	  echo "fetching @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) into $(CHDB_DIR)"; \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  npm pack --silent --pack-destination "$$tmp" @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) >/dev/null && \
	  tar -xzf "$$tmp"/chdb-lib-linux-x64-gnu-$(CHDB_VERSION).tgz -C "$$tmp" package/libchdb.so && \
	  mkdir -p "$(CHDB_DIR)" && mv "$$tmp/package/libchdb.so" "$(CHDB_DIR)/libchdb.so.part" && \
	  mv "$(CHDB_DIR)/libchdb.so.part" "$(CHDB_DIR)/libchdb.so" || \
	  echo "could not fetch libchdb.so: the ClickHouse 26.7 tests will skip (fail under CI=true)"; \
	fi

# The tests run through scripts/testsummary: the output of plain `go test`,
# then how many tests passed, failed and were skipped, and why.
test: test-deps chdb vet web-test build
	set -o pipefail; CONSOLE_SCREENSHOTS=$(CURDIR)/$(WEB)/test-results/screenshots \
	  $(GO) test -json -count=1 -timeout 30m ./... | $(GO) run ./scripts/testsummary
	set -o pipefail; $(GO) test -json -race -count=1 -timeout 30m ./engine/... ./flow/... ./dsl/... ./internal/... ./stages/... ./exporter/... | \
	  $(GO) run ./scripts/testsummary
	./scripts/first-minutes.sh

# What a new user does first, from a clean clone of HEAD: make run, the console
# shows flows (in chromium), Ctrl-C.
first-minutes:
	./scripts/first-minutes.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# A generated full routing table (1M IPv4 + 200k IPv6 prefixes from 4 peers)
# loaded over BMP: memory per route, load time, lookup cost.
bench-bmp:
	BMP_FULL_TABLE=1 $(GO) test -count=1 -run TestFullTable -v -timeout 30m ./stages/bmp/

bench-e2e: build
	./scripts/bench-e2e.sh

# The console's query figures (10M flows over 24 h in DuckDB and both
# ClickHouse servers, cold and warm), filter parsing, DuckDB inserts; the
# report goes to bench-query.txt. Not part of `make test`.
bench-query: test-deps chdb
	./scripts/bench-query.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)

lint: vet

fmt:
	gofmt -w .

clean:
	rm -rf bin $(WEB)/dist/app $(WEB)/.gen
