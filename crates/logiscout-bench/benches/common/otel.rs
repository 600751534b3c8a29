//! What the two OpenTelemetry benches share (`hot_opentelemetry`: the `log` bridge; `hot_tracing_opentelemetry`:
//! the tracing bridge): a `BatchLogProcessor` into a no-op exporter that counts, a drain that waits for
//! every timed call to reach it, and the end-of-run check that none was dropped.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use logiscout_bench::peers;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider,
};

/// Records the batch processor may hold before it drops (default 2,048); above 10,000 per drain.
pub(crate) const MAX_QUEUE: usize = 65_536;

/// An exporter that exports nothing: it only counts the records it is given and keeps the first one.
#[derive(Debug, Clone, Default)]
pub(crate) struct NoopExporter {
    pub(crate) received: Arc<AtomicU64>,
    pub(crate) first: Arc<Mutex<Option<String>>>,
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

/// A provider whose batch processor (queue raised to [`MAX_QUEUE`]) exports to `exporter`.
pub(crate) fn batch_provider(exporter: &NoopExporter) -> SdkLoggerProvider {
    let processor = BatchLogProcessor::builder(exporter.clone())
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUE)
                .build(),
        )
        .build();
    SdkLoggerProvider::builder()
        .with_log_processor(processor)
        .build()
}

/// Flushes the provider and waits until the exporter has every call made so far.
pub(crate) fn drain(name: &str, provider: &SdkLoggerProvider, exporter: &NoopExporter) {
    provider
        .force_flush()
        .expect("OpenTelemetry force_flush failed");
    let calls = peers::calls_made();
    peers::wait_until(name, || {
        let received = exporter.received.load(Ordering::SeqCst);
        (
            received >= calls,
            format!("exporter received {received} of {calls} records"),
        )
    });
}

/// After the groups: every timed call reached the exporter, and the first record carries the event.
pub(crate) fn finish(name: &str, provider: &SdkLoggerProvider, exporter: &NoopExporter) {
    drain(name, provider, exporter);
    let calls = peers::calls_made();
    let received = exporter.received.load(Ordering::SeqCst);
    eprintln!("{name}: {calls} timed calls, exporter received {received} records");
    if let Some(first) = exporter.first.lock().ok().and_then(|f| f.clone()) {
        eprintln!("{name}: first record: {first}");
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
