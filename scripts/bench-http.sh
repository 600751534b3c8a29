#!/usr/bin/env bash
# Middleware throughput under real HTTP load (docs/benchmarks.md): axum and actix-web hello-world servers,
# with and without logiscout's correlation middleware, driven by wrk over loopback.
#
#   scripts/bench-http.sh                    # full run: 3 rounds x 5 variants x (2 s warm-up + 10 s)
#   scripts/bench-http.sh -d 2s --rounds 1   # quick check
#
# Installs wrk with apt-get if it is missing, builds the release binaries of logiscout-bench, then runs
# target/release/http_load with the arguments given here (see `http_load --help`).
# Writes target/bench-results/http.json.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench-http: wrk not found; installing it with apt-get" >&2
    if ! { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }; }; then
        echo "bench-http: could not install wrk (apt-get install -y wrk failed; are you root, with apt access?)" >&2
        exit 1
    fi
    command -v wrk >/dev/null 2>&1 || { echo "bench-http: wrk still not on PATH after installing" >&2; exit 1; }
fi
command -v taskset >/dev/null 2>&1 || { echo "bench-http: taskset (util-linux) is needed to pin the server and wrk to CPUs" >&2; exit 1; }

cargo build --release -p logiscout-bench --bins
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/http_load" "$@"
