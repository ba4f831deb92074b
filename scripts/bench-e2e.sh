#!/bin/sh
# End-to-end benchmark of source "netflow": a generated NetFlow v9 stream is
# replayed over loopback at fixed rates to `bin/flowengine run` of a pipeline
# source "netflow" -> sink "blackhole" (or sink "file"), and the flows each
# sink received (from the engine's Prometheus /metrics) are compared with the
# flows sent. `make bench-e2e` builds bin/flowengine and runs this script.
#
# When nfcapd (nfdump's collector) or goflow2 are installed, the same stream is
# replayed to them too, for comparison: nfcapd writing its files, goflow2
# writing JSON to a file.
#
# Usage: scripts/bench-e2e.sh [duration-seconds]   (default 10)
set -eu

cd "$(dirname "$0")/.."
BIN=${BIN:-bin/flowengine}
DURATION=${1:-10}
# sink:rate pairs; the targets are >= 99.9% delivered at each.
CASES=${CASES:-"blackhole:300000 blackhole:1000000 file:300000"}
OTHER_RATES=${OTHER_RATES:-"300000 1000000"}
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

row() { # collector, rate, sent, delivered
	ratio=$(awk -v g="$4" -v s="$3" 'BEGIN { if (s > 0) printf "%.2f%%", 100 * g / s; else print "-" }')
	printf '%-22s %12s %12s %12s %9s\n' "$1" "$2" "$3" "$4" "$ratio"
}

printf '%-22s %12s %12s %12s %9s\n' collector "flows/s" sent delivered ratio
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
	row "flowengine -> $sink" "$rate" "$sent" "$got"
done

# nfcapd, when installed: it writes its files at shutdown; nfdump counts them.
if command -v nfcapd >/dev/null 2>&1 && command -v nfdump >/dev/null 2>&1; then
	for rate in $OTHER_RATES; do
		rm -rf "$TMP/nf" && mkdir -p "$TMP/nf"
		nfcapd -b 127.0.0.1 -p "$PORT" -w "$TMP/nf" -B 33554432 -t 3600 >"$TMP/nfcapd.log" 2>&1 &
		PID=$!
		sleep 1
		sent=$("$REPLAY" -target "127.0.0.1:$PORT" -rate "$rate" -duration "${DURATION}s")
		sleep 2
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
		got=0
		for f in "$TMP"/nf/nfcapd.*; do
			[ -f "$f" ] || continue
			n=$(nfdump -r "$f" -I 2>/dev/null | awk '$1 == "Flows:" { print $2; exit }')
			got=$((got + ${n:-0}))
		done
		row "nfcapd" "$rate" "$sent" "$got"
	done
fi

# goflow2, when installed: JSON lines to a file, one flow per line.
if command -v goflow2 >/dev/null 2>&1; then
	for rate in $OTHER_RATES; do
		rm -f "$TMP/goflow2.json"
		goflow2 -listen "netflow://127.0.0.1:$PORT" -format json -transport file \
			-transport.file "$TMP/goflow2.json" >"$TMP/goflow2.log" 2>&1 &
		PID=$!
		sleep 1
		sent=$("$REPLAY" -target "127.0.0.1:$PORT" -rate "$rate" -duration "${DURATION}s")
		sleep 2
		kill -INT "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		PID=
		got=$(wc -l <"$TMP/goflow2.json" 2>/dev/null || echo 0)
		row "goflow2 -> json file" "$rate" "$sent" "$got"
	done
fi
