# The same commands as the README.

# Run the whole test suite (what CI runs).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The whole product end to end: an axum service shipping to the local sink, checked.
demo:
    cargo run --example demo

# The local ingest sink; extra flags pass through (`just sink --token lgs_dev --out batches.jsonl`).
sink *FLAGS:
    cargo run -p logiscout-sink -- {{FLAGS}}

# The plain console logger example.
example:
    cargo run --example plain

# Every benchmark in docs/benchmarks.md, then its tables and chart (about 25 minutes; needs a quiet machine).
bench:
    scripts/bench.sh

# One part of the benchmarks: peers, core, e2e, rss, http (installs wrk), python (makes a venv), report.
bench-part PART:
    scripts/bench.sh {{PART}}

# Everything CI does.
ci:
    bash .ci/run
