#!/bin/sh
# What a new user does in their first minutes, from a clean clone: `make run`
# (which builds everything, starts the default pipeline with its console and
# the synthetic exporters), open the console's address in a browser, see
# flows, stop with Ctrl-C. The browser is Debian's chromium driven by
# playwright-core (console/web/e2e/first-minutes.mjs). `make test` runs it.
#
# Usage: scripts/first-minutes.sh [repository]   (default: this one, at HEAD)
# Environment: FIRST_MINUTES_TIMEOUT (seconds until the console must show
# flows, default 300: a cold clone runs npm ci and builds everything).
set -eu

cd "$(dirname "$0")/.."
REPO=${1:-$(pwd)}
WEB=$(pwd)/console/web
TIMEOUT=${FIRST_MINUTES_TIMEOUT:-300}
TMP=$(mktemp -d)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -INT "-$PID" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

git clone --quiet "$REPO" "$TMP/flowengine"
cd "$TMP/flowengine"
if ! grep -q '^console' pipelines/default.hcl; then
	echo "first minutes: skipped, pipelines/default.hcl has no console block"
	exit 0
fi
# make run in a process group of its own, as a terminal would run it, so that
# Ctrl-C (SIGINT to the group) reaches the pipeline and the exporters.
setsid make run > "$TMP/run.log" 2>&1 &
PID=$!

start=$(date +%s)
url=
while [ -z "$url" ]; do
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "first minutes: make run exited before the console started:"; tail -40 "$TMP/run.log"; exit 1
	fi
	if [ $(($(date +%s) - start)) -gt "$TIMEOUT" ]; then
		echo "first minutes: no console address after ${TIMEOUT}s of make run:"; tail -40 "$TMP/run.log"; exit 1
	fi
	url=$(sed -n 's/.*msg="serving the console" url=\([^ ]*\).*/\1/p' "$TMP/run.log" | head -1)
	[ -n "$url" ] || sleep 1
done
echo "first minutes: make run took $(($(date +%s) - start))s to serve the console at $url"

if ! (cd "$WEB" && node e2e/first-minutes.mjs "$url"); then
	echo "first minutes: make run log:"; tail -40 "$TMP/run.log"; exit 1
fi

# Ctrl-C: both the pipeline and the exporters stop.
kill -INT "-$PID"
i=0
while kill -0 "$PID" 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -gt 300 ]; then echo "first minutes: make run still runs 30s after Ctrl-C"; tail -20 "$TMP/run.log"; exit 1; fi
	sleep 0.1
done
if pgrep -f "$TMP/flowengine/bin/flowengine" >/dev/null; then
	echo "first minutes: a flowengine process outlived Ctrl-C"; exit 1
fi
PID=
echo "first minutes: ok"
