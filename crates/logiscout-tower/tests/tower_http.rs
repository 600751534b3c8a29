//! tower-http's `SetRequestIdLayer` in front of `CorrelationLayer` (feature `tower-http`): the `RequestId` it
//! sets, or finds on the request, is the request's correlation ID, so the response's `x-request-id`, the
//! `TraceLayer` span and the shipped logs share one ID. Real tower-http layers, a real axum server.

#[allow(dead_code)] // LoggingBody is for the other tests
mod common;

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use http::Request;
use logiscout_tower::{CorrelationId, CorrelationLayer};
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

async fn handler(id: CorrelationId) -> String {
    log::info!(step = "handler"; "tower-http request");
    id.to_string()
}

/// The app, with the ID each `TraceLayer` span was made with pushed to `spans`.
fn app(spans: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().route("/", get(handler)).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(move |req: &Request<_>| {
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .map(|r| r.header_value().to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    spans.lock().unwrap().push(id.clone());
                    tracing::info_span!("request", request_id = %id)
                }),
            )
            .layer(CorrelationLayer::new())
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// Sends one request (with `headers`) and returns the response's `x-request-id`, `x-correlation-id`, body,
/// and the span's ID.
async fn send(headers: &[(&str, &str)]) -> (String, String, String, String) {
    common::ingest(); // installs the Prod logger, shipping to the local ingest server
    let spans = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(spans.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut req = reqwest::Client::new().get(format!("http://{addr}/"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let header = |name: &str| resp.headers()[name].to_str().unwrap().to_owned();
    let (request_id, correlation_id) = (header("x-request-id"), header("x-correlation-id"));
    let body = resp.text().await.unwrap();
    let span = spans.lock().unwrap().pop().expect("a TraceLayer span");
    (request_id, correlation_id, body, span)
}

fn shipped_under(id: &str) -> usize {
    let ingest = common::ingest();
    tokio::task::block_in_place(common::flush);
    ingest
        .accepted_logs()
        .iter()
        .filter(|(cid, log)| cid == id && log["message"] == "tower-http request")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_made_by_set_request_id_layer_is_the_correlation_id() {
    let (request_id, correlation_id, body, span) = send(&[]).await;
    assert_eq!(
        request_id.len(),
        36,
        "a UUID from MakeRequestUuid: {request_id}"
    );
    assert_eq!(correlation_id, request_id);
    assert_eq!(body, request_id, "the extractor");
    assert_eq!(span, request_id, "the TraceLayer span");
    assert_eq!(shipped_under(&request_id), 1, "the shipped log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_found_on_the_request_is_the_correlation_id() {
    // SetRequestIdLayer keeps an incoming x-request-id; it wins over an x-correlation-id on the same request.
    let (request_id, correlation_id, body, span) = send(&[
        ("x-request-id", "client-req-7"),
        ("x-correlation-id", "another-id"),
    ])
    .await;
    assert_eq!(request_id, "client-req-7");
    assert_eq!(correlation_id, "client-req-7");
    assert_eq!(body, "client-req-7");
    assert_eq!(span, "client-req-7");
    assert_eq!(shipped_under("client-req-7"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_that_is_not_a_valid_correlation_id_is_replaced() {
    // Outside the correlation ID alphabet: never logged; the request gets a new ID of its own.
    let (request_id, correlation_id, body, _) = send(&[("x-request-id", "has space")]).await;
    assert_eq!(request_id, "has space", "tower-http echoes what it kept");
    assert_ne!(correlation_id, "has space");
    assert_eq!(correlation_id.len(), 36);
    assert_eq!(body, correlation_id);
}
