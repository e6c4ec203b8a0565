#!/usr/bin/env bash
# Files (issue 14) with `confab bench`: upload throughput over tus against a
# plain HTTPS streaming sink (TLS, SHA-256, written to disk), the server's
# memory during the upload, and fan-out latency at 200 clients with and
# without two large uploads running. JSON lines go to
# bench/results-files.jsonl; the readable lines to standard output.
#
#   bench/files.sh                         1 GiB files, 3 repeats
#   FILE_MIB=200 REPEATS=1 bench/files.sh  a quick look
#
# The server runs pinned to core 0 and the generator (with the sink) to
# core 1, as in compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

FILE_MIB=${FILE_MIB:-1024}; REPEATS=${REPEATS:-3}
CLIENTS=${CLIENTS:-200}; RATE=${RATE:-1000}; DURATION=${DURATION:-10}
OUT=${OUT:-bench/results-files.jsonl}

cargo build --release -p confab
BIN=$PWD/target/release/confab
WORK=$(mktemp -d)
SERVER_PID=
SINK_PID=
trap 'kill $SERVER_PID $SINK_PID 2>/dev/null; rm -rf "$WORK"' EXIT

CONFAB_NO_RATE_LIMITS=true CONFAB_FIRST_CHANNEL= taskset -c 0 "$BIN" serve --data-dir "$WORK/data" \
  --tcp 127.0.0.1:0 --http 127.0.0.1:0 --no-console \
  --max-file-mb $((FILE_MIB * 2)) --file-quota-mb 0 > "$WORK/confab.out" 2> "$WORK/confab.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/confab.out" 2>/dev/null && break; sleep 0.1; done
TCP=$(grep -o 'tcp=[^ ]*' "$WORK/confab.out" | cut -d= -f2)
WEB=$(grep -o 'web=[^ ]*' "$WORK/confab.out" | cut -d= -f2)
WEB=${WEB%/}

# The sink runs on the server's core, as a server would.
taskset -c 0 "$BIN" bench --scenario sink --sink-ca "$WORK/sink.pem" > "$WORK/sink.out" &
SINK_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/sink.out" 2>/dev/null && break; sleep 0.1; done
SINK=$(grep -o 'url=[^ ]*' "$WORK/sink.out" | cut -d= -f2)

bench() {
  taskset -c 1 "$BIN" bench --target "confab-tls://$TCP" --tls-ca "$WORK/data/tls/cert.pem" \
    --web-url "$WEB" --server-pid "$SERVER_PID" --json "$OUT" --label confab "$@"
}

bench --scenario upload --file-mib "$FILE_MIB" --uploads "$REPEATS" --sink-url "$SINK" --sink-ca "$WORK/sink.pem"
kill "$SINK_PID"
for _ in $(seq "$REPEATS"); do
  bench --scenario fanout --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION"
  bench --scenario fanout --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" \
    --uploads 2 --file-mib "$FILE_MIB"
done
