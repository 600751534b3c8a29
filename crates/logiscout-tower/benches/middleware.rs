//! The per-request cost of `CorrelationLayer` on an axum hello-world, driven in-process (no sockets).
//!
//! `cargo bench -p logiscout-tower --bench middleware`
//!
//! Each iteration does what hyper-util does for every request on a connection: clone the router service,
//! `oneshot` one `GET /`, then collect the whole response body (so the cost of wrapping the body is
//! counted). The request is built outside the timed part. The router is `with_state(())`, as `axum::serve`
//! makes it, so handlers are turned into routes (and layers applied) once, not per request. Runtime:
//! tokio current-thread.
//!
//! Cases, each with no incoming ID and with a valid incoming one:
//! - `no_layer`: the bare router;
//! - `correlation_layer`: `.layer(CorrelationLayer::new())`;
//! - `tower_http_request_id_trace`: tower-http's `SetRequestIdLayer::x_request_id(MakeRequestUuid)`,
//!   `TraceLayer::new_for_http()` and `PropagateRequestIdLayer::x_request_id()`, with no tracing
//!   subscriber installed (the cheapest way to run `TraceLayer`). Its incoming ID is `x-request-id`.
//!
//! The logger is not initialised for those: the figures are the layer's own cost (ID parse or generate,
//! header and extension insertion, scope wrapping of the future and the body); the request start/end
//! events are no-ops without a logger. The last group then initialises logiscout (`Env::Dev`,
//! `Console::Off`) and compares a handler that logs one `log::info!` line, with and without the layer.

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use logiscout_tower::CorrelationLayer;
use tokio::runtime::Runtime;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

async fn hello() -> &'static str {
    "hello"
}

async fn hello_logging() -> &'static str {
    log::info!(greeting = "hello"; "Saying hello");
    "hello"
}

fn no_layer() -> Router {
    Router::new().route("/", get(hello)).with_state(())
}

fn correlation_layer() -> Router {
    Router::new()
        .route("/", get(hello))
        .layer(CorrelationLayer::new())
        .with_state(())
}

fn tower_http_request_id_trace() -> Router {
    Router::new()
        .route("/", get(hello))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(())
}

/// `GET /`, with the given header when there is one.
fn request(header: Option<Header>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some((name, value)) = header {
        builder = builder.header(name, value);
    }
    builder.body(Body::empty()).expect("request")
}

/// One request through a clone of the router, body collected; returns the body's length.
async fn serve_one(router: &Router, req: Request<Body>) -> usize {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    body.len()
}

/// Checks, untimed, that the case answers `hello` and echoes the ID header it is expected to.
fn check(rt: &Runtime, router: &Router, req: Request<Body>, echoed: Option<(&str, Option<&str>)>) {
    rt.block_on(async {
        let resp = router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK);
        if let Some((name, want)) = echoed {
            let got = resp.headers()[name].to_str().expect("ascii");
            match want {
                Some(want) => assert_eq!(got, want),
                None => assert_eq!(got.len(), 36, "a new UUID in {name}"),
            }
        }
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&body[..], b"hello");
    });
}

/// An incoming header: name and value.
type Header = (&'static str, &'static str);

fn bench_case(
    c: &mut Criterion,
    rt: &Runtime,
    group: &str,
    cases: &[(&str, &Router, Option<Header>)],
) {
    let mut group = c.benchmark_group(group);
    for &(name, router, header) in cases {
        group.bench_function(name, |b| {
            b.to_async(rt).iter_batched(
                || request(header),
                |req| async move { black_box(serve_one(router, req).await) },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bare = no_layer();
    let correlated = correlation_layer();
    let tower_http = tower_http_request_id_trace();

    const CORRELATION: Header = ("x-correlation-id", "abc-123");
    const REQUEST_ID: Header = ("x-request-id", "abc-123");

    check(&rt, &bare, request(None), None);
    check(
        &rt,
        &correlated,
        request(None),
        Some(("x-correlation-id", None)),
    );
    check(
        &rt,
        &correlated,
        request(Some(CORRELATION)),
        Some(("x-correlation-id", Some("abc-123"))),
    );
    check(
        &rt,
        &tower_http,
        request(None),
        Some(("x-request-id", None)),
    );
    check(
        &rt,
        &tower_http,
        request(Some(REQUEST_ID)),
        Some(("x-request-id", Some("abc-123"))),
    );

    bench_case(
        c,
        &rt,
        "new_id",
        &[
            ("no_layer", &bare, None),
            ("correlation_layer", &correlated, None),
            ("tower_http_request_id_trace", &tower_http, None),
        ],
    );
    bench_case(
        c,
        &rt,
        "incoming_id",
        &[
            ("no_layer", &bare, Some(CORRELATION)),
            ("correlation_layer", &correlated, Some(CORRELATION)),
            ("tower_http_request_id_trace", &tower_http, Some(REQUEST_ID)),
        ],
    );

    // From here on the logger is installed (for the rest of the process): keep this group last.
    let _guard = logiscout_core::init(
        logiscout_core::Config::new("bench")
            .env(logiscout_core::Env::Dev)
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init");
    let logging_bare = Router::new().route("/", get(hello_logging)).with_state(());
    let logging_correlated = Router::new()
        .route("/", get(hello_logging))
        .layer(CorrelationLayer::new())
        .with_state(());
    check(&rt, &logging_bare, request(None), None);
    check(
        &rt,
        &logging_correlated,
        request(None),
        Some(("x-correlation-id", None)),
    );
    bench_case(
        c,
        &rt,
        "logger_dev_one_info",
        &[
            ("no_layer", &logging_bare, None),
            ("correlation_layer", &logging_correlated, None),
        ],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
