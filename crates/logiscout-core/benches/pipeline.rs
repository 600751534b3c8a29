//! End to end: logs per second delivered into a local ingest server, with 0 ms and 50 ms of server latency.
//!
//! `cargo bench -p logiscout-core --bench pipeline`
//!
//! One iteration logs 20,000 records (3 key-values, inside a correlation scope, console off) as fast as
//! the thread can, then waits until the server has accepted all of them. The time is the whole span, so
//! the throughput criterion reports is *delivered* logs per second. The run fails if any record was
//! dropped: a figure reached by dropping records would be worthless.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use logiscout_core::correlation::{self, CorrelationId};

const CHUNK: u64 = 20_000;

fn bench(c: &mut Criterion) {
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(
        logiscout_core::Config::new("bench")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_bench")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init");

    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(CHUNK));
    group.sample_size(10);
    for latency_ms in [0u64, 50] {
        server.set_discard_latency(Duration::from_millis(latency_ms));
        let id = CorrelationId::new("bench-request-0001");
        group.bench_function(format!("delivered_latency_{latency_ms}ms"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                correlation::sync_scope(id.clone(), || {
                    for _ in 0..iters {
                        for i in 0..CHUNK {
                            log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
                        }
                        let report = logiscout_core::flush(Duration::from_secs(60));
                        assert!(report.complete, "{report:?}");
                    }
                });
                start.elapsed()
            })
        });
    }
    group.finish();

    let report = guard.shutdown(Duration::from_secs(10));
    let (posts, bytes) = server.discarded();
    eprintln!(
        "pipeline: enqueued {} sent {} dropped {}; {} POSTs, {:.0} bytes/log on the wire",
        report.stats.logs_enqueued,
        report.stats.logs_sent,
        report.stats.logs_dropped,
        posts,
        bytes as f64 / report.stats.logs_sent.max(1) as f64
    );
    assert_eq!(
        report.stats.logs_dropped, 0,
        "no figure may come from dropping records"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
