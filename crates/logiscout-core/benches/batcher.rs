//! The batcher alone (no I/O, no encoding): the cost per log of the web workload — a request starts,
//! logs three times, ends; a batch is cut every 200 logs — while 1, 1,000, 10,000 or 100,000 other
//! requests are pending in the batcher (they logged once each and are still running, the state a backlog
//! leaves after an outage or under load). The cost must not depend on how many are pending.
//!
//! `cargo bench -p logiscout-core --bench batcher`

use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use logiscout_core::__private::batcher::Batcher;
use logiscout_core::correlation::CorrelationId;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("batcher");
    // One iteration: one request of three logs.
    group.throughput(Throughput::Elements(3));
    for pending in [1usize, 1_000, 10_000, 100_000] {
        let now = Instant::now();
        let mut b = Batcher::default();
        for i in 0..pending {
            let id = CorrelationId::new(format!("pending-{i}"));
            b.start(&id);
            b.log(&id, now);
        }
        b.take(now, true);
        // A ring of request IDs, made up front so that formatting them is not measured.
        let ids: Vec<CorrelationId> = (0..4096)
            .map(|i| CorrelationId::new(format!("req-{i:08}")))
            .collect();
        let mut next = 0;
        group.bench_with_input(
            BenchmarkId::new("log_with_pending_groups", pending),
            &pending,
            |bench, _| {
                bench.iter(|| {
                    let id = &ids[next % ids.len()];
                    next += 1;
                    b.start(id);
                    b.log(id, now);
                    b.log(id, now);
                    b.log(id, now);
                    b.end(id, now);
                    b.take(now, false)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
