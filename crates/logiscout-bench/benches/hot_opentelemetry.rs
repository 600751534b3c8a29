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
#[path = "common/otel.rs"]
mod otel;

use criterion::Criterion;
use log::LevelFilter;
use opentelemetry_appender_log::OpenTelemetryLogBridge;

const NAME: &str = "opentelemetry_batch";

fn bench(c: &mut Criterion) {
    let exporter = otel::NoopExporter::default();
    let provider = otel::batch_provider(&exporter);
    log::set_boxed_logger(Box::new(OpenTelemetryLogBridge::new(&provider)))
        .expect("install the OpenTelemetry log bridge as the log backend");
    log::set_max_level(LevelFilter::Info);

    let drain = || otel::drain(NAME, &provider, &exporter);
    common::log_facade_groups(c, NAME, |body| body(), drain);
    otel::finish(NAME, &provider, &exporter);
}

logiscout_bench::peer_bench_main!(bench);
