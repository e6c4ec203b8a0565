#!/usr/bin/env bash
# Gives Confab (over TLS and over WebSocket), ngircd and inspircd the same
# load with `confab bench`, and writes bench/RESULTS.md.
#
#   bench/compare.sh            the full run (about two hours on 2 cores)
#   QUICK=1 bench/compare.sh    smaller points, 2 s each, one repeat (about 15 minutes)
#
# Any of the settings below can be overridden from the environment, e.g.
#   QUICK=1 REPEATS=3 STORM=5000 bench/compare.sh
#   ONLY="fanout history" FANOUT_CLIENTS="1000 5000" bench/compare.sh
# ONLY names the scenarios to run (idle fanout rooms dm storm history).
# BEFORE=/path/to/an/older/confab also runs that binary's server (over TLS,
# labelled confab-before) with the same generator and load, for before and
# after figures from one run.
#
# Each server runs pinned to core 0 and the generator to core 1 (taskset).
# Each point runs REPEATS times; RESULTS.md shows the median.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  REPEATS=${REPEATS:-1}; DURATION=${DURATION:-2}
  FANOUT_CLIENTS=${FANOUT_CLIENTS:-200}; ROOM_CLIENTS=${ROOM_CLIENTS:-1000}; DM_CLIENTS=${DM_CLIENTS:-200}
  IDLE_CLIENTS=${IDLE_CLIENTS:-1000 10000}; HISTORY=${HISTORY:-100000}; STORM=${STORM:-1000}
else
  REPEATS=${REPEATS:-3}; DURATION=${DURATION:-5}
  FANOUT_CLIENTS=${FANOUT_CLIENTS:-200 1000 5000}; ROOM_CLIENTS=${ROOM_CLIENTS:-1000}; DM_CLIENTS=${DM_CLIENTS:-1000}
  IDLE_CLIENTS=${IDLE_CLIENTS:-1000 10000}; HISTORY=${HISTORY:-1000000}; STORM=${STORM:-5000}
fi
FANOUT_SIZES=${FANOUT_SIZES:-64 1024}
ONLY=${ONLY:-idle fanout rooms dm storm history}
want() { [[ " $ONLY " == *" $1 "* ]]; }

if ! command -v ngircd >/dev/null || ! command -v inspircd >/dev/null; then
  apt-get update
  apt-get install -y --no-install-recommends ngircd inspircd
fi
cargo build --release -p confab
BIN=$PWD/target/release/confab
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d)
OUT=$WORK/results.jsonl
# APPEND=1 adds this run's points to bench/results.jsonl instead of starting
# afresh (e.g. a second run of only the largest points).
if [ "${APPEND:-0}" = 1 ] && [ -f bench/results.jsonl ]; then cp bench/results.jsonl "$OUT"; fi
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# One Confab data directory for the whole run: accounts, their cached
# session tokens and the history channel are made once.
start_confab() {
  local bin=${1:-$BIN} data=${2:-$WORK/confab}
  # The rate limits are for people; the generator is thousands of clients
  # from one address (the older binary ignores the variable).
  CONFAB_NO_RATE_LIMITS=true CONFAB_FIRST_CHANNEL= taskset -c 0 "$bin" serve --data-dir "$data" --tcp 127.0.0.1:0 --http 127.0.0.1:0 --no-console \
    > "$WORK/confab.out" 2> "$WORK/confab.err" &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do grep -q listening "$WORK/confab.out" 2>/dev/null && break; sleep 0.1; done
  TCP=$(grep -o 'tcp=[^ ]*' "$WORK/confab.out" | cut -d= -f2)
  HTTP=$(grep -o 'http=[^ ]*' "$WORK/confab.out" | cut -d= -f2)
}

start_ngircd() {
  cat > "$WORK/ngircd.conf" <<CONF
[Global]
Name = irc.bench.local
Info = confab bench peer
Listen = 127.0.0.1
Ports = 16667
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
CONF
  taskset -c 0 ngircd -n -f "$WORK/ngircd.conf" > "$WORK/ngircd.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_port 16667
}

start_inspircd() {
  cat > "$WORK/inspircd.conf" <<CONF
<server name="irc.bench.local" description="confab bench peer" network="bench">
<admin name="bench" nick="bench" email="bench@localhost">
<bind address="127.0.0.1" port="16668" type="clients">
<connect allow="*" timeout="60" pingfreq="600" threshold="100000000" commandrate="100000000"
         fakelag="no" hardsendq="1048576" softsendq="1048576" recvq="1048576"
         localmax="100000" globalmax="100000" limit="100000" useident="no" resolvehostnames="no">
<channels users="1000" opers="1000">
<pid file="$WORK/inspircd.pid">
<options prefixquit="Quit: ">
<performance softlimit="60000" somaxconn="4096" netbuffersize="65536" nouserdns="yes">
CONF
  taskset -c 0 inspircd --nofork --runasroot --config "$WORK/inspircd.conf" > "$WORK/inspircd.log" 2>&1 &
  SERVER_PID=$!; PIDS+=("$SERVER_PID")
  wait_port 16668
}

wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; exit 1
}

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }

bench() {
  taskset -c 1 "$BIN" bench --server-pid "$SERVER_PID" --json "$OUT" --duration "$DURATION" "$@" \
    || echo "bench $* failed" >&2
}

# The same scenarios for one server; $1 label, $2 target, $3 extra flags.
scenarios() {
  local label=$1 target=$2; shift 2
  if want fanout; then
    for n in $FANOUT_CLIENTS; do
      for size in $FANOUT_SIZES; do
        # The sweep starts near 200,000 deliveries/s and doubles or halves from there.
        bench --label "$label" --target "$target" "$@" --scenario fanout --clients "$n" --senders 10 --size "$size" --rate $((200000 / n)) --sweep
      done
    done
  fi
  want rooms && bench --label "$label" --target "$target" "$@" --scenario rooms --clients "$ROOM_CLIENTS" --rooms 100 --rate 2000 --sweep
  want dm && bench --label "$label" --target "$target" "$@" --scenario dm --clients "$DM_CLIENTS" --rate 200 --sweep
  want storm && bench --label "$label" --target "$target" "$@" --scenario storm --clients "$STORM"
  return 0
}

for run in $(seq "$REPEATS"); do
  echo "== run $run of $REPEATS"
  for transport in tls ws; do
    want idle && for n in $IDLE_CLIENTS; do
      start_confab
      if [ $transport = tls ]; then t="confab-tls://$TCP"; else t="confab-ws://$HTTP"; fi
      bench --label confab --target "$t" --tls-ca "$WORK/confab/tls/cert.pem" --scenario idle --clients "$n"
      stop_server
    done
    start_confab
    if [ $transport = tls ]; then t="confab-tls://$TCP"; else t="confab-ws://$HTTP"; fi
    scenarios confab "$t" --tls-ca "$WORK/confab/tls/cert.pem" --token-cache "$WORK/tokens.json"
    if [ $transport = tls ] && want history; then
      bench --label confab --target "$t" --tls-ca "$WORK/confab/tls/cert.pem" \
        --scenario history --history-messages "$HISTORY" --concurrency 1,16,64
    fi
    stop_server
  done
  if [ -n "${BEFORE:-}" ]; then
    # Its own data dir: an older binary does not open a newer database.
    want idle && for n in $IDLE_CLIENTS; do
      start_confab "$BEFORE" "$WORK/confab-before"
      bench --label confab-before --target "confab-tls://$TCP" --tls-ca "$WORK/confab-before/tls/cert.pem" --scenario idle --clients "$n"
      stop_server
    done
    start_confab "$BEFORE" "$WORK/confab-before"
    scenarios confab-before "confab-tls://$TCP" --tls-ca "$WORK/confab-before/tls/cert.pem" \
      --token-cache "$WORK/tokens-before.json"
    stop_server
  fi
  for peer in ngircd inspircd; do
    want idle && for n in $IDLE_CLIENTS; do
      "start_$peer"; port=$([ $peer = ngircd ] && echo 16667 || echo 16668)
      bench --label "$peer" --target "irc://127.0.0.1:$port" --scenario idle --clients "$n"
      stop_server
    done
    "start_$peer"; port=$([ $peer = ngircd ] && echo 16667 || echo 16668)
    scenarios "$peer" "irc://127.0.0.1:$port"
    stop_server
  done
done

{
  echo "# Benchmark results"
  echo
  echo "Written by \`bench/compare.sh\` (QUICK=$QUICK, $REPEATS repeat(s), ${DURATION} s per point, APPEND=${APPEND:-0}) on $(date -u +%Y-%m-%d)."
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r)."
  echo "Servers pinned to core 0, the generator to core 1. Confab $("$BIN" --version | cut -d' ' -f2) persists every message (SQLite, synchronous=FULL) and speaks TLS on confab-tls;"
  echo "$(ngircd --version 2>/dev/null | head -1 || echo ngircd) and $(inspircd --version 2>/dev/null | head -1 || echo inspircd) run in plaintext and store nothing."
  echo
  echo "Times in ms. server_cpu and generator_cpu are shares of one core. Sweeps report the highest aggregate message rate (and deliveries/s) with p99 <= 50 ms (and <= 100 ms) and >= 99.9% delivered."
  "$BIN" bench --report "$OUT"
} > "$WORK/RESULTS.tables.md"
cp "$OUT" bench/results.jsonl
cp "$WORK/RESULTS.tables.md" bench/RESULTS.tables.md
echo "tables written to bench/RESULTS.tables.md (raw points in bench/results.jsonl)"
