//! The report behind `docs/benchmarks.md`: reads the measurement files, renders one markdown section per
//! measurement plus the targets table, replaces the generated parts of the document between
//! `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers, and draws `docs/hot-path.svg`.
//!
//! It measures nothing itself. Run it with `cargo run --release -p logiscout-bench --bin bench_report`
//! (see that binary for the options); it writes `docs/benchmarks.md` (generated sections only) and
//! `docs/hot-path.svg`.
//!
//! Inputs (all under the target directory, normally `<workspace>/target`):
//! - `criterion/<group>/<function>/new/estimates.json` (+ `benchmark.json` for throughput), from
//!   `cargo bench -p logiscout-bench` (and the older `logiscout-core` / `logiscout-tower` benches);
//! - `bench-results/e2e.json`, `http.json`, `python.json`, `rss.json`, from the other measurements.
//!
//! Loading and reading the machine are the only I/O here; every `render_*` function is pure, so the tables
//! and the chart are unit-tested from in-memory fixtures.

mod inputs;
pub use inputs::*;
mod machine;
pub use machine::*;
mod format;
pub use format::*;
mod sections;
pub use sections::*;
mod targets;
pub use targets::*;
mod markers;
pub use markers::*;
mod chart;
pub use chart::*;
mod paths;
pub use paths::*;

#[cfg(test)]
mod tests;
