#!/bin/sh
# The console's query figures: 10M generated flows over the last 24 h
# (generate → metadata → classifier "interface" → geoip → one sink per store),
# loaded into DuckDB, ClickHouse 18.16 and ClickHouse 26.7 at once; then, per
# store, a 24 h top-10 time series by SrcAS and a sankey SrcAS → InIfProvider
# → DstCountry, cold and warm, from the rollups and forced onto the raw flows
# table (e2e TestQuery24h). Then the filter parse-and-render benchmark of the
# store and the DuckDB insert benchmark. `make bench-query` runs this script.
#
# Environment: FLOWENGINE_BENCH_FLOWS (default 10000000),
# FLOWENGINE_BENCH_STORES (default duckdb,clickhouse-18.16,clickhouse-26.7),
# OUT (the report file, default bench-query.txt).
set -eu

cd "$(dirname "$0")/.."
OUT=${OUT:-bench-query.txt}
: >"$OUT"
say() { echo "$@" | tee -a "$OUT"; }

say "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
say "## queries over a day of flows (TestQuery24h)"
FLOWENGINE_BENCH_QUERY=1 go test -count=1 -timeout 60m -run '^TestQuery24h$' -v ./e2e/ 2>&1 | tee -a "$OUT" | grep -E '^(store|all|duckdb|clickhouse)|FAIL|panic' || true
say "## filter parse and render (store)"
go test -run '^$' -bench 'Filter' -benchmem -count 5 ./store/... 2>&1 | grep -E '^Benchmark|FAIL' | tee -a "$OUT"
say "## DuckDB insert (stages/duckdb)"
go test -run '^$' -bench 'BenchmarkInsert' -benchtime 2000000x -count 2 ./stages/duckdb/ 2>&1 | grep -E '^Benchmark|FAIL' | tee -a "$OUT"
say "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg); report in $OUT"
