#!/usr/bin/env bash
# logiscout's OTLP export against OpenTelemetry's (opentelemetry-appender-log + opentelemetry_sdk's batch
# processor + opentelemetry-otlp over HTTP): delivered logs/s and bytes per log into one loopback receiver,
# the same records, protobuf, OTLP JSON and the LogiScout format (docs/benchmarks.md, "OTLP export against OpenTelemetry's"; issue 16).
#
#   scripts/otlp-compare.sh                              # 200,000 records per run, 5 interleaved rounds
#   scripts/otlp-compare.sh --logs 50000 --rounds 3      # any otlp_compare flags (see its --help)
#
# Builds the tool (release, feature otlp-compare), then runs it: every run is a child process with its own
# in-process receiver on 127.0.0.1; nothing leaves loopback. Prints the table and writes
# target/bench-results/otlp_compare.json. Run it on a quiet machine: a compile next to it moves the figures
# by a third.
set -euo pipefail
cd "$(dirname "$0")/.."

# Neither logger may pick up settings from the caller's environment (the tool removes these from its
# children too): OTEL_BLRP_* would resize OpenTelemetry's queue, OTEL_EXPORTER_OTLP_* its endpoint or
# compression, LOGISCOUT_* logiscout's.
unset RUST_LOG
while IFS= read -r name; do
    unset "$name"
done < <(env | sed -n 's/^\(\(OTEL\|LOGISCOUT\)_[A-Za-z0-9_]*\)=.*/\1/p')

cargo build --release -p logiscout-bench --features otlp-compare --bin otlp_compare
if [[ $# -eq 0 ]]; then
    set -- --logs 200000 --rounds 5
fi
exec "${CARGO_TARGET_DIR:-target}/release/otlp_compare" "$@"
