//! The pipeline's end-to-end tests: a real [`Shipper`] (hot path → queue → worker → delivery) per test,
//! so configurations do not interfere, sending either through the HTTP transport to a real server on
//! 127.0.0.1 (what HTTP itself does: headers, gzip, redirects, proxies, TLS, slow and endless bodies,
//! refused connections) or through the in-memory transport (the worker's logic: retries, splits,
//! accounting, flush fences, backoff, drop reports), which answers from a script without sockets.
//!
//! - `shipping`: the pipeline's everyday behaviour (batches, triggers, retries, requests, flush).
//! - `reliability`: faults with exact pass criteria (`docs/reliability.md`).
//! - `network`: delivery on a hostile network (redirects, proxies, slow bodies, certificates).

mod network;
mod reliability;
mod shipping;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{Level, Record};
use logiscout_testkit::{IngestServer, Lines, Received};

use super::{Shipper, WorkerSettings};
use crate::context::{Context, CorrelationId};
use crate::encode::record::{Timestamp, WireLevel};
use crate::ship::transport::memory::{MemoryTransport, Sent};
use crate::ship::transport::{HttpTransport, RetryPolicy};

pub(crate) const TOKEN: &str = "lgs_test_token_9f8e7d";

pub(crate) fn settings() -> WorkerSettings {
    WorkerSettings {
        service_name: "svc".into(),
        environment: "production",
        max_queue_logs: 20_000,
        max_buffer_bytes: 32 << 20,
        max_batch_logs: 200,
        max_batch_bytes: 4 << 20,
        max_batch_wait: Duration::from_secs(30),
        max_in_flight: 4,
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            give_up_after: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(5),
        },
        max_string_bytes: 32 * 1024,
        max_record_bytes: 1 << 20,
        shutdown_timeout: Duration::from_secs(5),
        diagnostics: None,
        drop_report_every: Duration::from_secs(60),
    }
}

pub(crate) fn start(server: &IngestServer, tweak: impl FnOnce(&mut WorkerSettings)) -> Shipper {
    start_with(server, Duration::from_secs(5), false, tweak)
}

pub(crate) fn start_with(
    server: &IngestServer,
    timeout: Duration,
    gzip: bool,
    tweak: impl FnOnce(&mut WorkerSettings),
) -> Shipper {
    start_at(&server.url(), timeout, gzip, tweak)
}

/// A shipper for any endpoint URL.
pub(crate) fn start_at(
    url: &str,
    timeout: Duration,
    gzip: bool,
    tweak: impl FnOnce(&mut WorkerSettings),
) -> Shipper {
    let mut s = settings();
    tweak(&mut s);
    let url = url::Url::parse(url).unwrap();
    let transport =
        HttpTransport::new(url, &crate::config::ApiToken(TOKEN.into()), timeout, gzip).unwrap();
    Shipper::start(s, Arc::new(transport)).unwrap()
}

/// A shipper sending through `transport`, in memory.
pub(crate) fn start_in_memory(
    transport: &Arc<MemoryTransport>,
    tweak: impl FnOnce(&mut WorkerSettings),
) -> Shipper {
    let mut s = settings();
    tweak(&mut s);
    Shipper::start(s, transport.clone()).unwrap()
}

pub(crate) fn log(shipper: &Shipper, id: Option<&CorrelationId>, n: usize) {
    log_with(shipper, id, None, n);
}

/// What the logger does for a record made in `ctx`: its ID, and while the request is unknown to the
/// worker, the context, so that the first log carries the request's start.
pub(crate) fn log_in(shipper: &Shipper, ctx: &Context, n: usize) {
    let unannounced = ctx.request_unannounced().then_some(ctx);
    log_with(shipper, Some(ctx.correlation_id()), unannounced, n);
}

fn log_with(
    shipper: &Shipper,
    id: Option<&CorrelationId>,
    unannounced: Option<&Context>,
    n: usize,
) {
    let kvs: [(&str, log::kv::Value<'_>); 3] = [
        ("n", n.into()),
        ("ratio", 0.5.into()),
        ("who", "tester".into()),
    ];
    shipper.enqueue_first(
        &Record::builder()
            .args(format_args!("message {n}"))
            .level(Level::Info)
            .target("shipping_tests")
            .key_values(&kvs)
            .build(),
        WireLevel::Info,
        Timestamp::now(),
        id.cloned(),
        None,
        unannounced,
    );
}

pub(crate) fn numbers(logs: &[(String, serde_json::Value)]) -> Vec<u64> {
    logs.iter()
        .map(|(_, l)| l["metadata"]["n"].as_u64().unwrap())
        .collect()
}

pub(crate) fn assert_valid(received: &[Received]) {
    for r in received {
        assert!(r.schema_error.is_none(), "schema: {:?}", r.schema_error);
    }
}

/// [`assert_valid`] for batches the in-memory transport was handed.
pub(crate) fn assert_valid_sent(sent: &[Sent]) {
    for s in sent {
        let schema_error = logiscout_testkit::validate(&s.json()).err();
        assert!(schema_error.is_none(), "schema: {schema_error:?}");
    }
}

pub(crate) fn assert_balanced(shipper: &Shipper) {
    let s = shipper.stats();
    assert_eq!(
        s.logs_enqueued,
        s.logs_sent + s.logs_dropped + s.logs_pending(),
        "{s:?}"
    );
}

/// Captured diagnostic lines (the testkit's writer), as the worker's `diagnostics` destination.
pub(crate) fn diagnostics(lines: &Lines) -> Option<crate::config::SharedWriter> {
    Some(Arc::new(Mutex::new(Box::new(lines.clone()))))
}
