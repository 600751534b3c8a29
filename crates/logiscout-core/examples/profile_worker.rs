//! A fixed workload for measuring the shipping worker's own cost per shipped log (render, batch, encode,
//! send): N logs into a queue big enough for all, then `flush`, into a loopback server that answers 200 at
//! once. `requests` mode makes them the web workload: one request (its start, 3 logs, its end) per 3 logs;
//! `rounds` logs that workload 600 logs at a time, each round flushed before the next (N a multiple of 600).
//!
//! Instruction counts per thread, stable on a noisy machine:
//!
//! ```text
//! cargo build --release -p logiscout-core --example profile_worker
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cgw.out \
//!     target/release/examples/profile_worker 60000 requests
//! scripts/callgrind-thread-cost.sh /tmp/cgw.out worker_loop 60000
//! ```

use std::time::{Duration, Instant};

#[path = "../benches/common/backlog.rs"]
mod backlog;

fn main() {
    let n = logiscout_testkit::profile::count_arg("logs", 60_000);
    let mode = std::env::args().nth(2);
    // `rounds`: the web workload in rounds of 200 requests, each flushed before the next, so the pools
    // are in their steady state (a backlog's renders find no spent body to reuse).
    let rounds = mode.as_deref() == Some("rounds");
    let requests = rounds || mode.as_deref() == Some("requests");
    let server = logiscout_testkit::IngestServer::start_discarding();
    let config = logiscout_testkit::profile_config!(server)
        .max_queue_logs(1 << 20)
        .max_buffer_bytes(1 << 30);
    let guard = logiscout_core::init(config).expect("init");
    let start = Instant::now();
    if rounds {
        for _ in 0..n / 600 {
            backlog::requests(200);
            assert!(logiscout_core::flush(Duration::from_secs(60)).complete);
        }
    } else if requests {
        backlog::requests(n / 3);
    } else {
        backlog::one_group(n);
    }
    let flushed = logiscout_core::flush(Duration::from_secs(300));
    let took = start.elapsed();
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(
        flushed.complete && report.stats.logs_dropped == 0,
        "{report:?}"
    );
    eprintln!(
        "{} logs ({}), {} sent in {:.1} ms: {:.0} logs/s",
        n,
        if requests {
            "3 per request"
        } else {
            "one group"
        },
        report.stats.logs_sent,
        took.as_secs_f64() * 1e3,
        report.stats.logs_sent as f64 / took.as_secs_f64()
    );
}
