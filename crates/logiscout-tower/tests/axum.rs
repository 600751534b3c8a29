//! `CorrelationLayer` in a real axum app on 127.0.0.1, driven by a real HTTP client through the shared
//! scenario table (the same one the actix tests run).

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use logiscout_core::correlation::{self, FutureExt};
use logiscout_testkit::scenarios::{query_param, Harness};
use logiscout_tower::{CorrelationId, CorrelationLayer};

fn tag(q: &Option<String>) -> String {
    query_param(q.as_deref(), "tag")
        .unwrap_or("none")
        .to_owned()
}

async fn hello(RawQuery(q): RawQuery) -> &'static str {
    log::info!(tag = tag(&q); "hello");
    "hello"
}

async fn id(id: CorrelationId) -> String {
    id.to_string()
}

async fn fail(RawQuery(q): RawQuery) -> (StatusCode, &'static str) {
    log::error!(tag = tag(&q); "failing");
    (StatusCode::INTERNAL_SERVER_ERROR, "failed")
}

async fn work(RawQuery(q): RawQuery) -> &'static str {
    let t = tag(&q);
    log::info!(tag = t.as_str(); "step 1");
    tokio::time::sleep(Duration::from_millis(1)).await;
    log::info!(tag = t.as_str(); "step 2");
    let t2 = t.clone();
    tokio::spawn(async move { log::info!(tag = t2.as_str(); "spawned") }.in_current_scope())
        .await
        .unwrap();
    let ctx = correlation::current_context().expect("in a request scope");
    tokio::task::spawn_blocking(move || {
        correlation::sync_scope(ctx, || log::info!(tag = t.as_str(); "blocking"))
    })
    .await
    .unwrap();
    "worked"
}

async fn stream(RawQuery(q): RawQuery) -> Body {
    Body::new(common::LoggingBody {
        tag: tag(&q),
        next: 0,
    })
}

async fn slow(RawQuery(q): RawQuery) -> &'static str {
    let ms = query_param(q.as_deref(), "ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    log::info!(tag = tag(&q); "slow");
    "slow"
}

async fn quiet() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn app(layer: CorrelationLayer) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/id", get(id))
        .route("/fail", get(fail))
        .route("/work", get(work))
        .route("/stream", get(stream))
        .route("/slow", get(slow))
        .route("/quiet", get(quiet))
        .layer(layer)
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

async fn harness() -> Harness<'static> {
    let ingest = common::ingest();
    Harness {
        app: serve(app(CorrelationLayer::new())).await,
        ingest,
        flush: &common::flush,
    }
}

logiscout_testkit::scenario_tests!(harness);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_change_header_trust_generator_and_recording() {
    let layer = CorrelationLayer::new()
        .header_name(http::HeaderName::from_static("x-request-id"))
        .trust_incoming(false)
        .generator(|| logiscout_core::correlation::CorrelationId::new("fixed-generated-id"))
        .record_all_requests(true);
    let h = Harness {
        app: serve(app(layer)).await,
        ingest: common::ingest(),
        flush: &common::flush,
    };
    logiscout_testkit::scenarios::custom_options_apply(&h, "x-request-id", "fixed-generated-id")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_caught_by_an_outer_layer_is_recorded_as_500() {
    async fn boom(RawQuery(q): RawQuery) -> &'static str {
        log::info!(tag = tag(&q); "about to panic");
        panic!("handler bug");
    }
    let ingest = common::ingest();
    let router = Router::new()
        .route("/boom", get(boom))
        .layer(CorrelationLayer::new())
        .layer(tower_http::catch_panic::CatchPanicLayer::new());
    let base = serve(router).await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/boom?tag=boom-1"))
        .header("x-correlation-id", "boom-id-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    tokio::task::block_in_place(common::flush);
    let payload = ingest
        .accepted()
        .iter()
        .flat_map(|r| r.body["payloads"].as_array().cloned().unwrap())
        .find(|p| p["correlationId"] == "boom-id-1" && p["request"]["statusCode"].is_number())
        .expect("a closing payload for the panicked request");
    assert_eq!(payload["request"]["statusCode"], 500);
}
