//! Ships logs as OTLP/HTTP (protobuf) to the sink's OTLP receiver, as to an OpenTelemetry Collector, and
//! checks what arrived, decoded with the official `opentelemetry-proto` types.
//!
//! `cargo run --example otlp --features otlp`

use std::time::Duration;

use logiscout::correlation::{self, Context, CorrelationId, RequestInfo};
use logiscout::{Config, Console, Env, Protocol};
use logiscout_sink::otlp::opentelemetry_proto::tonic::logs::v1::LogRecord;
use logiscout_sink::otlp::{record_count, OtlpSink, OtlpSinkConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = OtlpSink::start(OtlpSinkConfig::default())?;
    let guard = logiscout::init(
        Config::new("otlp-example")
            .env(Env::Prod)
            .protocol(Protocol::Otlp)
            // A collector's OTLP/HTTP logs URL; no token needed (one would go as a Bearer token).
            .endpoint(sink.url())
            .header("x-api-key", "example-key")
            .console(Console::Off)
            .read_rust_log(false),
    )?;

    log::info!(user_id = 123, ratio = 0.5, admin = false; "User logged in");
    let ctx = Context::new(CorrelationId::new("req-42"))
        .with_request(RequestInfo::new("POST", "/orders?coupon=x"));
    logiscout::middleware::request_started(&ctx);
    correlation::sync_scope(ctx.clone(), || {
        log::warn!(order_id = "abc"; "Stock is low");
    });
    logiscout::middleware::request_finished(&ctx, Some(201));

    let report = logiscout::flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 2, "{report:?}");
    assert!(sink.wait_until(Duration::from_secs(2), |s| s.logs == 2));

    let requests = sink.requests();
    let logs: usize = requests.iter().map(record_count).sum();
    assert_eq!(logs, 2);
    let records: Vec<_> = requests
        .iter()
        .flat_map(|r| &r.resource_logs)
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .collect();
    let attr = |r: &LogRecord, key: &str| {
        r.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
            .and_then(|v| v.value)
            .map(|v| format!("{v:?}"))
    };
    let login = records
        .iter()
        .find(|r| r.severity_number == 9)
        .expect("INFO record");
    assert_eq!(attr(login, "user_id").as_deref(), Some("IntValue(123)"));
    // Outside any scope: no per-record correlation ID (the process's is `service.instance.id`).
    assert_eq!(attr(login, "logiscout.correlation_id"), None);
    let low = records
        .iter()
        .find(|r| r.severity_number == 13)
        .expect("WARN record");
    assert_eq!(
        attr(low, "logiscout.correlation_id").as_deref(),
        Some("StringValue(\"req-42\")")
    );
    assert_eq!(
        attr(low, "http.request.method").as_deref(),
        Some("StringValue(\"POST\")")
    );
    assert_eq!(
        attr(low, "url.path").as_deref(),
        Some("StringValue(\"/orders\")")
    );
    println!(
        "otlp example: {logs} records arrived as OTLP protobuf and decoded with opentelemetry-proto; stats {:?}",
        sink.stats()
    );
    drop(guard);
    Ok(())
}
