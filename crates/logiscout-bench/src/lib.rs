//! Shared pieces of the benchmark suite in `docs/benchmarks.md`: where results are written, and the one
//! record every logger is measured on.
//!
//! Not published. The peers (`env_logger`, `tracing`, OpenTelemetry, `ftlog`) are dependencies of this
//! crate only, never of logiscout itself.

#![forbid(unsafe_code)]

pub mod child;
pub mod peers;
pub mod report;

use std::path::PathBuf;

/// The message of the benchmark record: 20 bytes.
pub const MESSAGE: &str = "Order created okay!!";

/// Directory where the non-criterion measurements write their JSON results:
/// `<workspace>/target/bench-results` (or `$CARGO_TARGET_DIR/bench-results`).
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("bench-results");
    std::fs::create_dir_all(&dir).expect("create target/bench-results");
    dir
}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Writes `value` as pretty JSON to `results_dir()/name` and returns the path.
pub fn write_result(name: &str, value: &serde_json::Value) -> PathBuf {
    let path = results_dir().join(name);
    let text = serde_json::to_string_pretty(value).expect("serialise result");
    std::fs::write(&path, text + "\n").expect("write result");
    path
}
