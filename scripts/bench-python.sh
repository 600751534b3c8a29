#!/usr/bin/env bash
# The Python client, logiscout-logger 1.0.1, on logiscout's benchmark record: median ns per log call inside
# a request (its own WSGI middleware), and how many of the logged records reached a local logiscout-sink.
#
# Run from anywhere:  scripts/bench-python.sh [ARGS for bench_python_client.py, e.g. --calls 2000 --repeats 2]
#
# Makes a throwaway venv in target/bench-python-venv, installs logiscout-logger==1.0.1 from PyPI, builds and
# starts target/release/logiscout-sink on a free 127.0.0.1 port (port 0; the port is read from its first
# line), runs crates/logiscout-bench/python/bench_python_client.py against it (which points the client's
# ingest URL at the sink before init, and refuses any non-loopback connection), stops the sink on exit, and
# leaves target/bench-results/python.json. Nothing is sent anywhere but 127.0.0.1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/bench-python-venv"
results="$target/bench-results"
token="lgs_bench_python"
mkdir -p "$results"

sink_pid=""
sink_log="$(mktemp)"
cleanup() {
    if [[ -n "$sink_pid" ]] && kill -0 "$sink_pid" 2>/dev/null; then
        kill -INT "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
    fi
    rm -f "$sink_log"
}
trap cleanup EXIT

echo "bench-python: venv $venv" >&2
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "logiscout-logger==1.0.1"
installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("logiscout-logger"))')"
if [[ "$installed" != "1.0.1" ]]; then
    echo "bench-python: logiscout-logger $installed installed, not 1.0.1" >&2
    exit 1
fi

echo "bench-python: building the sink" >&2
(cd "$root" && cargo build --release --quiet -p logiscout-sink)
"$target/release/logiscout-sink" --listen 127.0.0.1:0 --token "$token" -q >"$sink_log" 2>&1 &
sink_pid=$!

url=""
for _ in $(seq 1 100); do
    url="$(sed -n 's/^logiscout-sink listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)\/ingest$/\1/p' "$sink_log")"
    [[ -n "$url" ]] && break
    if ! kill -0 "$sink_pid" 2>/dev/null; then
        echo "bench-python: the sink did not start:" >&2
        cat "$sink_log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$url" ]]; then
    echo "bench-python: the sink printed no address within 10 s:" >&2
    cat "$sink_log" >&2
    exit 1
fi
echo "bench-python: sink at $url" >&2

"$venv/bin/python" "$root/crates/logiscout-bench/python/bench_python_client.py" \
    --sink "$url" --token "$token" --out "$results/python.json" "$@"
