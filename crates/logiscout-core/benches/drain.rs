//! Draining a backlog: N logs logged at once into a queue big enough for all of them, then `flush`; the
//! figure is delivered logs per second (N / time from the first log to the end of the flush) into a
//! loopback server that answers 200 at once and parses nothing (logiscout's own ceiling).
//!
//! `cargo bench -p logiscout-core --bench drain`
//!
//! The cases: 120,000 logs in one correlation group (one long job), and the web workload's shape — one
//! request per 3 logs, each with its request info and its end (what the middleware hands over) — at
//! 20,000, 40,000 and 80,000 requests; and 40,000 correlation scopes of 3 logs without request info
//! (jobs, not requests). Issue 12's target: 40,000 requests drain at ≥ 0.67× the one-group
//! rate. The run fails if any record was dropped.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logiscout_core::correlation::CorrelationId;

#[path = "common/backlog.rs"]
mod backlog;
use backlog::{one_group, requests, scopes};

fn bench(c: &mut Criterion) {
    let server = logiscout_testkit::IngestServer::start_discarding();
    let guard = logiscout_core::init(backlog::config(&server.url())).expect("init");

    let mut group = c.benchmark_group("drain");
    group.sample_size(10);
    let mut run = |name: &str, logs: u64, work: &dyn Fn()| {
        group.throughput(Throughput::Elements(logs));
        group.bench_function(BenchmarkId::new(name, logs), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    work();
                    let report = logiscout_core::flush(Duration::from_secs(120));
                    assert!(report.complete, "{report:?}");
                }
                start.elapsed()
            })
        });
    };
    run("one_group", 120_000, &|| one_group(120_000));
    for n in [20_000u64, 40_000, 80_000] {
        run(&format!("requests_{n}"), 3 * n, &|| requests(n));
    }
    let ids: Vec<CorrelationId> = (0..40_000).map(|_| CorrelationId::generate()).collect();
    run("scopes_40000", 120_000, &|| scopes(&ids));
    group.finish();

    let report = guard.shutdown(Duration::from_secs(10));
    eprintln!(
        "drain: enqueued {} sent {} dropped {}",
        report.stats.logs_enqueued, report.stats.logs_sent, report.stats.logs_dropped
    );
    assert_eq!(
        report.stats.logs_dropped, 0,
        "no figure may come from dropping records"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
