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

use std::time::{Duration, Instant};

use logiscout_core::correlation::{self, CorrelationId};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("the argument is a number of calls"))
        .unwrap_or(100_000);
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(
        logiscout_core::Config::new("profile")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_profile")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init");
    let mut per_call = Vec::new();
    correlation::sync_scope(CorrelationId::new("bench-request-0001"), || {
        let mut done = 0;
        while done < n {
            let chunk = (n - done).min(10_000);
            let start = Instant::now();
            for i in done..done + chunk {
                log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
            }
            per_call.push(start.elapsed().as_nanos() as f64 / chunk as f64);
            done += chunk;
            logiscout_core::flush(Duration::from_secs(30));
        }
    });
    per_call.sort_by(f64::total_cmp);
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");
    eprintln!(
        "{} calls, {} sent; median {:.0} ns per call over {} chunks",
        n,
        report.stats.logs_sent,
        per_call[per_call.len() / 2],
        per_call.len()
    );
}
