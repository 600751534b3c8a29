//! A real axum app on tracing: `#[instrument]` handlers, tower-http's `TraceLayer` and logiscout's
//! `CorrelationLayer`, the registry shipping through `logiscout::tracing::layer()` to the local sink,
//! driven by a real client with 400 requests at once. Every event must arrive under the correlation ID
//! its own response echoed, with its typed fields, its spans' fields and its error chain; `send = false`
//! events and logiscout's own HTTP client's events never arrive.

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use logiscout::tower::CorrelationLayer;
use logiscout_sink::{Sink, SinkConfig};
use tracing_subscriber::prelude::*;

const REQUESTS: u64 = 400;

#[derive(Debug)]
struct Declined(Insufficient);
#[derive(Debug)]
struct Insufficient;
impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}
impl std::fmt::Display for Insufficient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("insufficient funds")
    }
}
impl std::error::Error for Insufficient {}
impl std::error::Error for Declined {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tracing::instrument(fields(shop = "main"))]
async fn charge(Path(n): Path<u64>) -> String {
    tracing::info!(amount = n as f64 / 4.0, paid = n % 2 == 0, "Charging");
    tokio::task::yield_now().await;
    tracing::info!(send = false, card = "4111-1111", "Card details");
    if n % 10 == 0 {
        let err = Declined(Insufficient);
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "Charge failed"
        );
    }
    format!("charged {n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_concurrent_requests_ship_their_events_under_their_own_ids() {
    let sink = Sink::start(SinkConfig {
        quiet: true,
        ..SinkConfig::default()
    })
    .expect("sink");
    let guard = logiscout::init(
        logiscout::Config::new("tracing-axum")
            .env(logiscout::Env::Prod)
            .api_token("lgs_test")
            .endpoint(sink.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("trace"),
    )
    .expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout::tracing::layer()),
    )
    .expect("subscriber");

    let app = Router::new()
        .route("/charge/{n}", get(charge))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(CorrelationLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let calls: Vec<_> = (0..REQUESTS)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let resp = client
                    .get(format!("http://{addr}/charge/{n}"))
                    .send()
                    .await
                    .unwrap();
                let id = resp.headers()["x-correlation-id"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(resp.text().await.unwrap(), format!("charged {n}"));
                id
            })
        })
        .collect();
    let mut echoed = Vec::new();
    for call in calls {
        echoed.push(call.await.unwrap());
    }
    server.abort();
    let report = logiscout::flush_async(Duration::from_secs(10)).await;
    assert!(report.complete, "{report:?}");

    let sink_port = format!(":{}", sink.addr().port());
    let (mut charging, mut failed) = (0, 0);
    for batch in sink.batches() {
        for payload in batch["payloads"].as_array().into_iter().flatten() {
            let id = payload["correlationId"].as_str().unwrap();
            for log in payload["logs"].as_array().into_iter().flatten() {
                // The test's own client (to the app) is app code and ships; logiscout's client (to the
                // sink) must not.
                assert!(
                    !log.to_string().contains(&sink_port),
                    "logiscout's own client shipped: {log}"
                );
                assert_ne!(log["message"], "Card details", "send = false shipped");
                let m = &log["metadata"];
                // #[instrument] records the destructured argument by its Debug text.
                let Some(n) = m["n"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
                    continue; // TraceLayer's own events (DEBUG), outside the handler's span
                };
                assert_eq!(echoed[n as usize], id, "request {n} under its own ID");
                assert_eq!(m["shop"], "main", "#[instrument] fields");
                assert_eq!(m["method"], "GET", "TraceLayer's span fields");
                match log["message"].as_str().unwrap() {
                    "Charging" => {
                        assert_eq!(m["amount"].as_f64(), Some(n as f64 / 4.0));
                        assert_eq!(m["paid"].as_bool(), Some(n % 2 == 0));
                        charging += 1;
                    }
                    "Charge failed" => {
                        assert_eq!(log["level"], "error");
                        assert_eq!(
                            log["exception"]["traceback"],
                            "card declined\ncaused by: insufficient funds"
                        );
                        failed += 1;
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
    }
    assert_eq!(charging, REQUESTS, "every request's event, once");
    assert_eq!(failed, REQUESTS / 10);
    let stats = sink.shutdown();
    assert_eq!(
        stats.rejected, 0,
        "every body valid against the wire schema"
    );
    drop(guard);
}
