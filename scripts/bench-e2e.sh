#!/bin/sh
# End-to-end benchmark of source "netflow": a generated NetFlow v9 stream is
# replayed over loopback at fixed rates to `bin/flowengine run` of a pipeline
# source "netflow" -> sink "blackhole" (or sink "file"), and the flows each
# sink received (from the engine's Prometheus /metrics) are compared with the
# flows sent. `make bench-e2e` builds bin/flowengine and runs this script.
#
# Usage: scripts/bench-e2e.sh [duration-seconds]   (default 10)
set -eu

cd "$(dirname "$0")/.."
BIN=${BIN:-bin/flowengine}
DURATION=${1:-10}
# sink:rate pairs; the targets are >= 99.9% delivered at each.
CASES=${CASES:-"blackhole:300000 blackhole:1000000 file:300000"}
METRICS=127.0.0.1:9090
PORT=${PORT:-22055}

[ -x "$BIN" ] || go build -o "$BIN" ./cmd/flowengine
TMP=$(mktemp -d)
REPLAY=$TMP/nfreplay
go build -o "$REPLAY" ./stages/netflow/internal/replay
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

metric() { # metric name and stage label value
	curl -s "http://$METRICS/metrics" | awk -v m="$1{stage=\"$2\"}" '$1 == m { printf "%d\n", $2 }'
}

printf '%-10s %12s %12s %12s %9s\n' sink "flows/s" sent delivered ratio
for c in $CASES; do
	sink=${c%%:*}
	rate=${c##*:}
	case $sink in
	file) body="path = \"$TMP/flows.json\"" ;;
	*) body="" ;;
	esac
	cat >"$TMP/pipeline.hcl" <<HCL
pipeline {
  listen    = "$METRICS"
  state_dir = "$TMP/state"
}
source "netflow" "in" {
  listen         = "127.0.0.1:$PORT"
  sockets        = 2
  receive_buffer = "32MiB"
}
sink "$sink" "x" {
  input = source.netflow.in
  $body
}
HCL
	rm -f "$TMP/flows.json"
	"$BIN" run "$TMP/pipeline.hcl" >"$TMP/engine.log" 2>&1 &
	PID=$!
	i=0
	until curl -sf "http://$METRICS/metrics" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
			echo "flowengine did not start:" >&2
			cat "$TMP/engine.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	sent=$("$REPLAY" -target "127.0.0.1:$PORT" -rate "$rate" -duration "${DURATION}s")
	# Let the last batches reach the sink.
	sleep 2
	got=$(metric flowengine_stage_flows_in_total "sink.$sink.x")
	got=${got:-0}
	kill -INT "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=
	ratio=$(awk -v g="$got" -v s="$sent" 'BEGIN { if (s > 0) printf "%.2f%%", 100 * g / s; else print "-" }')
	printf '%-10s %12s %12s %12s %9s\n' "$sink" "$rate" "$sent" "$got" "$ratio"
done
