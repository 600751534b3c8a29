//! A fixed workload for profilers: N calls of the benchmark record (3 key-values, 20-byte message) inside
//! a correlation scope, console off, shipping on to a loopback ingest server. Every 10,000 calls it waits
//! for the worker, like the `log_call` bench, so no record takes the drop path.
//!
//! Instruction counts, stable on a noisy machine (the hot path is `Logger::log`, inclusive):
//!
//! ```text
//! cargo build --release -p logiscout-core --example profile_hot_path
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out target/release/examples/profile_hot_path 100000
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep -m1 'Logger as log::Log>::log'
//! ```
//!
//! It also prints the median time per call over its chunks of 10,000 (calls only, not the waits): a quick
//! A/B check between two builds run back to back, next to the criterion benches.

use std::time::Duration;

use logiscout_core::correlation::{self, CorrelationId};
use logiscout_testkit::profile;

fn main() {
    let n = profile::count_arg("calls", 100_000);
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(logiscout_testkit::profile_config!(server)).expect("init");
    let timing = correlation::sync_scope(CorrelationId::new("bench-request-0001"), || {
        profile::chunked(
            n,
            |i| log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!"),
            || {
                logiscout_core::flush(Duration::from_secs(30));
            },
        )
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");
    eprintln!("{n} calls, {} sent; {timing}", report.stats.logs_sent);
}
