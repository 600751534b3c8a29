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

use std::time::Duration;

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
    correlation::sync_scope(CorrelationId::new("bench-request-0001"), || {
        let mut done = 0;
        while done < n {
            let chunk = (n - done).min(10_000);
            for i in done..done + chunk {
                log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
            }
            done += chunk;
            logiscout_core::flush(Duration::from_secs(30));
        }
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");
    eprintln!("{} calls, {} sent", n, report.stats.logs_sent);
}
