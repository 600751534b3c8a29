//! Hot path of **logiscout** (function `logiscout`), for the comparison with peer loggers: one
//! `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` inside
//! `sync_scope(CorrelationId::new("bench-request-0001"), ..)`, `Env::Prod`, console off, filter `info`,
//! shipping to `logiscout_testkit::IngestServer::start_discarding()` on 127.0.0.1.
//!
//! `cargo bench -p logiscout-bench --bench hot_logiscout`
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once, each in its own scope; the figure is wall time per call =
//! 1 / aggregate throughput, each thread's own time per call is about twice it) and `disabled_level`
//! (`debug!` under the `info` filter). Criterion writes `target/criterion/<group>/logiscout/new/estimates.json`.
//!
//! Every 10,000 calls the bench waits, untimed, in `logiscout::flush` until the worker delivered them, so
//! the queue (20,000 records by default) never fills. At the end it asserts that `stats()` counts exactly
//! the timed calls as enqueued and none as dropped.

mod common;

use std::time::Duration;

use criterion::Criterion;
use logiscout::correlation::{sync_scope, CorrelationId};
use logiscout_bench::peers;

const NAME: &str = "logiscout";

fn drain() {
    let report = logiscout::flush(peers::DRAIN_TIMEOUT);
    assert!(
        report.complete,
        "logiscout::flush did not deliver everything within {:?}: {:?}",
        peers::DRAIN_TIMEOUT,
        report.stats
    );
}

fn bench(c: &mut Criterion) {
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout::init(
        logiscout::Config::new("bench")
            .env(logiscout::Env::Prod)
            .api_token("lgs_bench")
            .endpoint(server.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init logiscout (Prod, shipping to the local discarding ingest server)");
    let id = CorrelationId::new(peers::CORRELATION_ID);

    common::log_facade_groups(c, NAME, |body| sync_scope(id.clone(), body), drain);

    drain();
    let stats = logiscout::stats();
    let calls = peers::calls_made();
    eprintln!(
        "{NAME}: {calls} timed calls; stats: enqueued {} sent {} dropped {}; server got {:?} (posts, bytes)",
        stats.logs_enqueued,
        stats.logs_sent,
        stats.logs_dropped,
        server.discarded()
    );
    assert_eq!(
        stats.logs_dropped, 0,
        "the bench must not measure the drop path"
    );
    assert_eq!(
        stats.logs_enqueued, calls,
        "every timed call must have enqueued one record"
    );
    assert_eq!(stats.logs_sent, calls, "every record must have been sent");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "nothing dropped at shutdown");
}

logiscout_bench::peer_bench_main!(bench);
