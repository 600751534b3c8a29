//! A fixed workload for profilers: N tracing events, the benchmark event of `hot_tracing_logiscout`
//! (`info!(user_id = i, ratio = 0.25, region = "eu-west-1", "Order created okay!!")`), inside an entered
//! span with one field, through `registry().with(logiscout_tracing::layer())`, console off, shipping on
//! to a loopback ingest server. Every 10,000 events it waits for the worker, so no event takes the drop
//! path.
//!
//! Instructions per event on the calling thread (the inclusive cost of `one_event`: the macro, the
//! dispatch, the registry, this layer and logiscout's pipeline), stable on a noisy machine:
//!
//! ```text
//! cargo build --release -p logiscout-tracing --example profile_tracing
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cgt.out target/release/examples/profile_tracing 100000
//! callgrind_annotate --inclusive=yes /tmp/cgt.out | grep -m1 'profile_tracing::one_event'
//! ```
//!
//! It also prints the median time per event over its chunks of 10,000 (events only, not the waits). The
//! workload's loop and the logger's settings are `logiscout_testkit::profile`'s, shared with
//! logiscout-core's `profile_*` examples.

use std::time::Duration;

use logiscout_testkit::profile;
use tracing_subscriber::prelude::*;

#[inline(never)]
fn one_event(i: u64) {
    tracing::info!(
        user_id = i,
        ratio = 0.25,
        region = "eu-west-1",
        "Order created okay!!"
    );
}

fn main() {
    let n = profile::count_arg("events", 100_000);
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(logiscout_testkit::profile_config!(server)).expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout_tracing::layer()),
    )
    .expect("install the registry with logiscout's layer");
    let span = tracing::info_span!("request", correlation_id = "bench-request-0001");
    let timing = span.in_scope(|| {
        profile::chunked(n, one_event, || {
            logiscout_core::flush(Duration::from_secs(30));
        })
    });
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");
    assert_eq!(report.stats.logs_sent, n, "{report:?}");
    eprintln!("{n} events, {} sent; {timing}", report.stats.logs_sent);
}
