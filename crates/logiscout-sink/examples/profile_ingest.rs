//! A fixed workload for measuring the sink's own cost per ingested log (read the body, parse, validate
//! against the wire-format schema, check, dedup, count): the real logger in `Env::Prod` (no gzip, batches
//! of 200 logs, as in the soak test) ships N logs of the web workload (one request: its start, 3 logs, its
//! end) to an in-process sink with a token, quiet, keeping no batches (as the command line runs it). The
//! sink's stats must count all N logs; they are printed at the end.
//!
//! Instruction counts per thread, stable on a noisy machine (the sink runs on its own thread, named
//! `logiscout-sink`, with a current-thread runtime: `accept` is on that thread only):
//!
//! ```text
//! cargo build --release -p logiscout-sink --example profile_ingest
//! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cgs.out \
//!     target/release/examples/profile_ingest 30000
//! scripts/callgrind-thread-cost.sh /tmp/cgs.out logiscout_sink::accept 30000
//! ```

use std::time::{Duration, Instant};

use logiscout_sink::{Sink, SinkConfig};

#[path = "../../logiscout-core/benches/common/backlog.rs"]
mod backlog;

const TOKEN: &str = "lgs_profile";

fn main() {
    let n: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().expect("the number of logs"),
        None => 30_000,
    };
    let n = n / 3 * 3;
    let sink = Sink::start(SinkConfig {
        token: Some(TOKEN.to_owned()),
        quiet: true,
        keep_batches: false,
        ..SinkConfig::default()
    })
    .expect("the sink starts");
    let config = logiscout_core::Config::new("profile")
        .env(logiscout_core::Env::Prod)
        .api_token(TOKEN)
        .endpoint(sink.url())
        .console(logiscout_core::Console::Off)
        .read_rust_log(false)
        .filter("info")
        .max_queue_logs(1 << 20)
        .max_buffer_bytes(1 << 30);
    let guard = logiscout_core::init(config).expect("init");
    let start = Instant::now();
    backlog::requests(n / 3);
    let flushed = logiscout_core::flush(Duration::from_secs(600));
    let took = start.elapsed();
    let report = guard.shutdown(Duration::from_secs(10));
    assert!(
        flushed.complete && report.stats.logs_dropped == 0,
        "{report:?}"
    );
    let stats = sink.shutdown();
    assert_eq!(stats.logs, n, "the sink counted every log: {stats:?}");
    assert_eq!(stats.rejected + stats.unauthorized, 0, "{stats:?}");
    eprintln!(
        "{n} logs ingested in {:.1} ms: {}",
        took.as_secs_f64() * 1e3,
        serde_json::to_string(&stats).unwrap_or_default()
    );
}
