//! Hot path of **logiscout's tracing layer** (function `logiscout_tracing_layer`), for the comparison with
//! tracing-subscriber's JSON formatter into tracing-appender's non-blocking writer (`hot_tracing`): the
//! same `tracing::info!(user_id = i, ratio = 0.25, region = "eu-west-1", "Order created okay!!")` inside
//! the same entered span `info_span!("request", correlation_id = ..)`, through
//! `registry().with(logiscout::tracing::layer())`, logiscout in `Env::Prod` shipping to a discarding
//! loopback server, console off. The span's field travels into the record's metadata.
//!
//! `cargo bench -p logiscout-bench --bench hot_tracing_logiscout`
//!
//! One group, `hot_path_1_thread` (see `logiscout_bench::peers`): every 10,000 calls the bench waits,
//! untimed, for delivery, and at the end it asserts that every call was enqueued and sent.

#[path = "common/tracing_event.rs"]
mod tracing_event;

use std::time::Duration;

use criterion::Criterion;
use logiscout_bench::peers;
use tracing_subscriber::prelude::*;

const NAME: &str = "logiscout_tracing_layer";

fn drain() {
    let report = logiscout::flush(peers::DRAIN_TIMEOUT);
    assert!(report.complete, "flush: {:?}", report.stats);
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
    .expect("init logiscout");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout::tracing::layer()),
    )
    .expect("install the registry with logiscout's layer");

    tracing_event::one_thread_group(c, NAME, drain);

    drain();
    let stats = logiscout::stats();
    let calls = peers::calls_made();
    eprintln!(
        "{NAME}: {calls} timed calls; enqueued {} sent {} dropped {}",
        stats.logs_enqueued, stats.logs_sent, stats.logs_dropped
    );
    assert_eq!(
        stats.logs_dropped, 0,
        "the bench must not measure the drop path"
    );
    assert_eq!(stats.logs_sent, calls, "every call must have been sent");
    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0);
}

logiscout_bench::peer_bench_main!(bench);
