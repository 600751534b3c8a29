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

# The benchmarks in docs/benchmarks.md: hot path, delivered throughput, middleware cost.
bench:
    cargo bench -p logiscout-core --bench log_call
    cargo bench -p logiscout-core --bench pipeline
    cargo bench -p logiscout-tower --bench middleware

# Everything CI does.
ci:
    bash .ci/run
