//! Hot path of **OpenTelemetry logs** (function `opentelemetry_batch`), for the comparison with logiscout:
//! `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` through
//! `opentelemetry-appender-log`'s `OpenTelemetryLogBridge` (the `log` backend; it turns the key-values into
//! typed attributes and the message into the body) into an `opentelemetry_sdk` `SdkLoggerProvider` with a
//! `BatchLogProcessor`, whose own thread hands batches to a no-op exporter. `log`'s max level is `Info`.
//! There is no correlation scope: the SDK's equivalent, a trace context, needs a tracer and an active span.
//!
//! `cargo bench -p logiscout-bench --bench hot_opentelemetry`
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once; the figure is wall time per call = 1 / aggregate throughput,
//! each thread's own time per call is about twice it) and `disabled_level` (`debug!` under the `Info`
//! level). Criterion writes `target/criterion/<group>/opentelemetry_batch/new/estimates.json`.
//!
//! The batch processor silently drops records when its queue is full (2,048 by default) and its drop
//! counter is private. So the queue is raised to 65,536 records, every 10,000 calls the bench calls
//! `force_flush` (untimed), and the exporter counts the records it is given: after each flush, and at the
//! end, the bench asserts that it received exactly as many records as there were timed calls. Apart from
//! that count (one atomic add per batch, on the export thread) and a copy of the first record to show what
//! arrived, the exporter does nothing and returns `Ok`.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use criterion::{criterion_group, criterion_main, Criterion};
use log::LevelFilter;
use logiscout_bench::peers;
use opentelemetry_appender_log::OpenTelemetryLogBridge;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider,
};

const NAME: &str = "opentelemetry_batch";

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
    log::set_boxed_logger(Box::new(OpenTelemetryLogBridge::new(&provider)))
        .expect("install the OpenTelemetry log bridge as the log backend");
    log::set_max_level(LevelFilter::Info);

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

    common::log_facade_groups(c, NAME, |body| body(), drain);

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
