#!/usr/bin/env bash
# Live streams (issue 16): how far peer to peer goes on this machine. A host
# in headless Chromium with the fake camera (640×480, 20 fps) goes live;
# viewers (each a Chromium of its own) are added in steps, and at each step
# the host browser's CPU (all its processes, over 10 s) and each viewer's
# decoded frame rate and received bit rate are measured. Everything runs in
# a network namespace with loopback alone (root needed), peer to peer.
#
#   bench/live.sh                        steps 0,1,2,4,6,8 viewers
#   CONFAB_LIVE_STEPS=0,1,4 bench/live.sh
#
# JSON lines go to bench/results-live.jsonl (with the date and the
# machine's cores) and to standard output. The viewers share the machine
# with the host: on few cores the figure at the top steps is the whole
# machine's limit, which is what a viewer limit must respect when host and
# viewers are on one box, and a bound from below for a host on a machine
# of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results-live.jsonl}
export CONFAB_LIVE_STEPS=${CONFAB_LIVE_STEPS:-0,1,2,4,6,8}
cargo test -p confab --test live measure_host_cpu_per_viewer -- --ignored --nocapture \
  | tee /dev/stderr \
  | { grep '^{' || true; } \
  | while read -r line; do
      echo "{\"date\":\"$(date -u +%FT%TZ)\",\"cores\":$(nproc),\"point\":$line}"
    done >> "$OUT"
echo "appended to $OUT"
