#!/usr/bin/env bash
# Every benchmark in docs/benchmarks.md, then the report that rewrites its tables and docs/hot-path.svg.
#
#   scripts/bench.sh            # all of it, about 25 minutes on 2 cores
#   scripts/bench.sh peers      # one part: peers | core | e2e | rss | http | python | otlp | report
#
# Run it on a quiet machine: the figures are medians of timings, and a compile next to them moves them by
# a third. Each part writes its own inputs (target/criterion, target/bench-results); `report` only reads.
set -euo pipefail
cd "$(dirname "$0")/.."

part() {
    echo "== bench: $1" >&2
    case "$1" in
        # The hot path against env_logger, tracing, OpenTelemetry, ftlog and the bare-queue floor:
        # 1 thread, 2 threads, disabled level (crates/logiscout-bench/benches/hot_*.rs).
        peers) cargo bench -p logiscout-bench ;;
        # logiscout's own benches: the hot path alone, delivered throughput, middleware in process.
        core)
            cargo bench -p logiscout-core --bench log_call
            cargo bench -p logiscout-core --bench pipeline
            cargo bench -p logiscout-tower --bench middleware
            ;;
        # Delivered logs/s into logiscout-sink at 0 and 50 ms, bytes per log with and without gzip.
        e2e) cargo run --release -p logiscout-bench --bin e2e ;;
        # Peak RSS for 1,000,000 records with the endpoint down, at the default cap and at 4 MiB.
        rss) cargo run --release -p logiscout-bench --bin rss ;;
        # axum and actix-web hello-world under wrk, with and without the correlation middleware.
        http) scripts/bench-http.sh --rounds 5 -d 8s ;;
        # The Python client logiscout-logger 1.0.1, in a throwaway venv, shipping to the local sink.
        python) scripts/bench-python.sh ;;
        # logiscout's OTLP export against opentelemetry-otlp: delivered logs/s and bytes per log, same receiver
        # (its section in docs/benchmarks.md is typed from the output; the report does not read it).
        otlp) scripts/otlp-compare.sh ;;
        # Tables in docs/benchmarks.md and docs/hot-path.svg from all of the above.
        report) cargo run --release -p logiscout-bench --bin bench_report ;;
        *) echo "bench: unknown part '$1' (peers, core, e2e, rss, http, python, otlp, report)" >&2; exit 2 ;;
    esac
}

if [[ $# -eq 0 ]]; then
    set -- peers core e2e rss http python otlp report
fi
for p in "$@"; do
    part "$p"
done
