#!/usr/bin/env bash
# Induced stalls at a fixed load (issue 12; not run in CI): does a backlog raise the app's RSS?
#
#   scripts/soak-stall.sh [STALL_MS] [STALLS]        # default 100 ms, 4 stalls; about 2.5 minutes
#
# The sink on CPU 1, soak_app (axum, or FRAMEWORK=actix) on CPU 0 sampling RSS and stats() every second,
# soak_load at 20,000 req/s on CPU 1. From 40 s into the load, every 20 s, a SCHED_FIFO busy loop takes
# CPU 0 for STALL_MS: the app's threads (the tokio thread and logiscout's worker) stop, requests queue in
# the kernel, and once the loop ends the app serves them at once, so the worker faces a backlog of about
# STALL_MS × 60 logs. `timeout` runs outside the real-time class and off CPU 0, so it can end the loop.
# Needs root (chrt) and the release binaries:
#   cargo build --release -p logiscout-bench --bins -p logiscout-sink
# SOAK_APP overrides the app binary (to compare builds). Writes target/soak-stall/samples.jsonl (one
# line a second: t_s, rss_kib, logs_pending, logs_dropped, ...), stalls.txt (each stall's wall-clock
# start) and app.log (the final report is its last line).
set -euo pipefail
cd "$(dirname "$0")/.."

ms=${1:-100}
stalls=${2:-4}
bin=target/release
app=${SOAK_APP:-$bin/soak_app}
out=target/soak-stall
for b in "$app" "$bin/logiscout-sink" "$bin/soak_load"; do
    [ -x "$b" ] || { echo "soak-stall: $b not built (cargo build --release -p logiscout-bench --bins -p logiscout-sink)" >&2; exit 1; }
done
for tool in chrt taskset timeout; do
    command -v "$tool" >/dev/null 2>&1 || { echo "soak-stall: $tool is needed" >&2; exit 1; }
done
mkdir -p "$out"
rm -f "$out"/samples.jsonl "$out"/stalls.txt

taskset -c 1 "$bin/logiscout-sink" --listen 127.0.0.1:19318 --token lgs_soak --quiet >"$out/sink.log" 2>&1 &
sink=$!
trap 'kill "$sink" 2>/dev/null || true' EXIT
sleep 0.5
total=$((40 + stalls * 20 + 20))
taskset -c 0 "$app" --framework "${FRAMEWORK:-axum}" --listen 127.0.0.1:19080 \
    --endpoint http://127.0.0.1:19318/ingest --token lgs_soak --sample-ms 1000 \
    --samples "$out/samples.jsonl" --duration-s "$total" >"$out/app.log" 2>&1 &
app_pid=$!
sleep 1
taskset -c 1 "$bin/soak_load" --url http://127.0.0.1:19080/ --rate 20000 --connections 32 \
    --duration-s $((total - 3)) >"$out/load.json" 2>"$out/load.err" &
load=$!
sleep 40
for i in $(seq 1 "$stalls"); do
    echo "stall $i at $(date +%s.%N)" >>"$out/stalls.txt"
    # The loop is real-time on CPU 0; `timeout` is not, and runs on the other core.
    timeout "$(awk "BEGIN{print $ms/1000}")" chrt -f 50 taskset -c 0 sh -c 'while :; do :; done' || true
    sleep 20
done
wait "$load"
wait "$app_pid"
tail -n 1 "$out/app.log"
