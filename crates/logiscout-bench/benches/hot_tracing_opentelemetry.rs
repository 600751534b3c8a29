//! Hot path of **OpenTelemetry's tracing appender** (function `opentelemetry_tracing_batch`), the third
//! subscriber of docs/benchmarks.md section 9: the same `tracing::info!(user_id = i, ratio = 0.25,
//! region = "eu-west-1", "Order created okay!!")` inside the same entered `info_span!("request",
//! correlation_id = ..)`, through `registry().with(opentelemetry_appender_tracing::layer::
//! OpenTelemetryTracingBridge)` into an `opentelemetry_sdk` `SdkLoggerProvider` with a `BatchLogProcessor`,
//! whose own thread hands batches to a no-op exporter (the one of `hot_opentelemetry`: it counts).
//!
//! `cargo bench -p logiscout-bench --bench hot_tracing_opentelemetry`
//!
//! One group, `hot_path_1_thread` (see `logiscout_bench::peers`). The batch processor drops silently when
//! its queue is full, so the queue is raised to 65,536 records, every 10,000 calls the bench flushes
//! (untimed), and at the end it asserts the exporter received exactly as many records as timed calls. The
//! bridge does not copy span fields into the record (it has no span-field feature enabled here): it does
//! less than logiscout's layer, which puts `correlation_id` into every record's metadata.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion};
use logiscout_bench::peers;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider,
};
use tracing_subscriber::prelude::*;

const NAME: &str = "opentelemetry_tracing_batch";

/// Records the batch processor may hold before it drops (default 2,048); above 10,000 per drain.
const MAX_QUEUE: usize = 65_536;

/// An exporter that exports nothing: it only counts the records it is given and keeps the first one.
#[derive(Debug, Clone, Default)]
struct NoopExporter {
    received: Arc<AtomicU64>,
    first: Arc<Mutex<Option<String>>>,
}

impl LogExporter for NoopExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let mut records = batch.iter();
        if let Some((record, _scope)) = records.next() {
            if self.received.fetch_add(1, Ordering::SeqCst) == 0 {
                if let Ok(mut first) = self.first.lock() {
                    *first = Some(format!("{record:?}"));
                }
            }
            self.received
                .fetch_add(records.count() as u64, Ordering::SeqCst);
        }
        std::future::ready(Ok(()))
    }
}

fn bench(c: &mut Criterion) {
    let exporter = NoopExporter::default();
    let processor = BatchLogProcessor::builder(exporter.clone())
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUE)
                .build(),
        )
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider)),
    )
    .expect("install the registry with OpenTelemetry's tracing bridge");

    let drain = || {
        provider
            .force_flush()
            .expect("OpenTelemetry force_flush failed");
        let calls = peers::calls_made();
        peers::wait_until(NAME, || {
            let received = exporter.received.load(Ordering::SeqCst);
            (
                received >= calls,
                format!("exporter received {received} of {calls} records"),
            )
        });
    };

    let mut group = c.benchmark_group(peers::GROUP_1_THREAD);
    group.bench_function(NAME, |b| {
        b.iter_custom(|iters| {
            let span = tracing::info_span!("request", correlation_id = peers::CORRELATION_ID);
            let _entered = span.enter();
            peers::one_thread(
                iters,
                |i| {
                    tracing::info!(
                        user_id = i,
                        ratio = 0.25,
                        region = "eu-west-1",
                        "Order created okay!!"
                    )
                },
                drain,
            )
        })
    });
    group.finish();

    drain();
    let calls = peers::calls_made();
    let received = exporter.received.load(Ordering::SeqCst);
    eprintln!("{NAME}: {calls} timed calls, exporter received {received} records");
    if let Some(first) = exporter.first.lock().ok().and_then(|f| f.clone()) {
        eprintln!("{NAME}: first record: {first}");
        for expected in ["Order created okay!!", "user_id", "ratio", "region"] {
            assert!(
                first.contains(expected),
                "the exported record lacks {expected:?}: {first}"
            );
        }
    }
    assert_eq!(
        received, calls,
        "every timed call must have reached the exporter (the batch processor drops silently when its queue is full)"
    );
    provider
        .shutdown()
        .expect("OpenTelemetry logger provider shutdown failed");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(peers::MEASUREMENT_TIME)
        .warm_up_time(peers::WARM_UP_TIME);
    targets = bench
}
criterion_main!(benches);
