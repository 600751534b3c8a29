//! A `tracing` app shipping through logiscout: an axum service with `#[instrument]` handlers, tower-http's
//! `TraceLayer` (its request spans and events) and logiscout's `CorrelationLayer`, the registry printing
//! with `fmt` and shipping with `logiscout::tracing::layer()`, to the local sink. A real client sends
//! 40 requests at once; then the example checks what the sink stored: the handlers' events with their
//! span fields and typed fields, under the correlation ID each response echoed, the `log` records too, and nothing
//! from logiscout's own HTTP client.
//!
//! `cargo run --example tracing --features axum,tracing`

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use logiscout::tower::CorrelationLayer;
use logiscout_sink::{Sink, SinkConfig};
use tracing_subscriber::prelude::*;

const REQUESTS: u64 = 40;

#[tracing::instrument]
async fn get_order(Path(order_id): Path<u64>) -> String {
    tracing::info!(items = 3, total = 19.5, paid = true, "Order loaded");
    if order_id % 2 == 0 {
        log::info!(legacy = "yes"; "A library still on log");
    }
    format!("order {order_id}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = Sink::start(SinkConfig {
        quiet: true,
        token: Some("lgs_example".into()),
        ..SinkConfig::default()
    })?;
    let guard = logiscout::init(
        logiscout::Config::new("tracing-example")
            .env(logiscout::Env::Prod)
            .api_token("lgs_example")
            .endpoint(sink.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )?;
    // logiscout owns the `log` slot; the subscriber is installed with set_global_default (see README,
    // "With tracing").
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            )
            .with(logiscout::tracing::layer()),
    )?;

    let app = Router::new()
        .route("/orders/{order_id}", get(get_order))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(CorrelationLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // 40 requests at once (tests/tracing_axum.rs does 400): every event must land under its own
    // request's correlation ID.
    let client = reqwest::Client::new();
    let mut calls = Vec::new();
    for n in 0..REQUESTS {
        let client = client.clone();
        calls.push(tokio::spawn(async move {
            let resp = client
                .get(format!("http://{addr}/orders/{n}"))
                .send()
                .await?;
            let id = resp.headers()["x-correlation-id"].to_str()?.to_owned();
            let body = resp.text().await?;
            assert_eq!(body, format!("order {n}"));
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(id)
        }));
    }
    let mut echoed = Vec::new();
    for call in calls {
        echoed.push(call.await?.map_err(|e| e.to_string())?);
    }
    server.abort();
    let report =
        tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(5))).await?;

    let mut events = 0;
    let mut from_log = 0;
    for batch in sink.batches() {
        for payload in batch["payloads"].as_array().into_iter().flatten() {
            let id = payload["correlationId"].as_str().unwrap_or_default();
            for log in payload["logs"].as_array().into_iter().flatten() {
                match log["message"].as_str() {
                    Some("Order loaded") => {
                        let m = &log["metadata"];
                        // #[instrument] records a destructured argument by its Debug text.
                        let n = m["order_id"]
                            .as_u64()
                            .or_else(|| m["order_id"].as_str()?.parse().ok())
                            .ok_or("order_id from #[instrument]")?;
                        assert_eq!(
                            echoed[n as usize], id,
                            "an event under its request's correlation ID"
                        );
                        assert_eq!(
                            (m["items"].as_u64(), m["paid"].as_bool()),
                            (Some(3), Some(true))
                        );
                        assert_eq!(m["total"].as_f64(), Some(19.5));
                        events += 1;
                    }
                    Some("A library still on log") => {
                        assert_eq!(log["metadata"]["legacy"], "yes");
                        from_log += 1;
                    }
                    _ => {}
                }
                let target = log["loggerName"].as_str().unwrap_or_default();
                assert!(
                    !["hyper", "reqwest", "rustls", "h2"]
                        .iter()
                        .any(|t| target.starts_with(t)),
                    "logiscout's own HTTP client is never shipped: {target}"
                );
            }
        }
    }
    sink.shutdown();
    assert_eq!(events, REQUESTS, "every handler event arrived once");
    assert_eq!(
        from_log,
        REQUESTS / 2,
        "every log record arrived once, with its key-values"
    );
    println!(
        "tracing example ok: {events} tracing events and {from_log} log records arrived under their requests' IDs ({} sent, {} dropped)",
        report.stats.logs_sent, report.stats.logs_dropped
    );
    Ok(())
}
