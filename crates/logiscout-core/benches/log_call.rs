//! The hot path: one `log::info!` with 3 key-values (int, float, string) and a 20-byte message, inside a
//! correlation scope, console off, shipping on to a real ingest server on 127.0.0.1.
//!
//! `cargo bench -p logiscout-core --bench log_call`
//!
//! Only the log calls are timed: every 10,000 calls the bench waits (untimed) for the worker to deliver
//! them, so the queue never fills and no call takes the cheaper "drop" path. The drop count is printed at
//! the end and must be 0.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use logiscout_core::correlation::{self, CorrelationId};

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

    let id = CorrelationId::new("bench-request-0001");
    let mut group = c.benchmark_group("log_call");
    group.bench_function("info_3kv_scoped_shipping", |b| {
        b.iter_custom(|iters| {
            correlation::sync_scope(id.clone(), || {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(10_000);
                    let start = Instant::now();
                    for i in 0..n {
                        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
                    }
                    timed += start.elapsed();
                    left -= n;
                    logiscout_core::flush(Duration::from_secs(30));
                }
                timed
            })
        })
    });
    group.bench_function("debug_disabled", |b| {
        b.iter(
            || log::debug!(user_id = 1, ratio = 0.25, region = "eu-west-1"; "Order created okay!!"),
        )
    });
    group.finish();

    let report = guard.shutdown(Duration::from_secs(10));
    eprintln!(
        "log_call: enqueued {} sent {} dropped {}",
        report.stats.logs_enqueued, report.stats.logs_sent, report.stats.logs_dropped
    );
    assert_eq!(
        report.stats.logs_dropped, 0,
        "the bench must not measure the drop path"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
