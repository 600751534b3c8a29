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

#[path = "common/otel.rs"]
mod otel;
#[path = "common/tracing_event.rs"]
mod tracing_event;

use criterion::Criterion;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use tracing_subscriber::prelude::*;

const NAME: &str = "opentelemetry_tracing_batch";

fn bench(c: &mut Criterion) {
    let exporter = otel::NoopExporter::default();
    let provider = otel::batch_provider(&exporter);
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider)),
    )
    .expect("install the registry with OpenTelemetry's tracing bridge");
    tracing_event::one_thread_group(c, NAME, || otel::drain(NAME, &provider, &exporter));
    otel::finish(NAME, &provider, &exporter);
}

logiscout_bench::peer_bench_main!(bench);
