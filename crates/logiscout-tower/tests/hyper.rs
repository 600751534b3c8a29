//! `CorrelationLayer` around a bare hyper service (no framework), served on 127.0.0.1 and driven by a
//! real client: the same scenario table as axum and actix.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use logiscout_core::correlation::{self, CorrelationId, FutureExt};
use logiscout_testkit::scenarios::{query_param, Harness};
use logiscout_tower::CorrelationLayer;
use tower::ServiceBuilder;

type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, Infallible>;

fn full(text: impl Into<String>) -> Body {
    Full::new(bytes::Bytes::from(text.into())).boxed_unsync()
}

/// The scenario routes, by hand: hyper has no router.
async fn route(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let query = req.uri().query().map(str::to_owned);
    let tag = query_param(query.as_deref(), "tag")
        .unwrap_or("none")
        .to_owned();
    let response = match req.uri().path() {
        "/hello" => {
            log::info!(tag = tag.as_str(); "hello");
            Response::new(full("hello"))
        }
        "/id" => {
            let id = req.extensions().get::<CorrelationId>().unwrap().to_string();
            Response::new(full(id))
        }
        "/fail" => {
            log::error!(tag = tag.as_str(); "failing");
            let mut r = Response::new(full("failed"));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
        "/work" => {
            log::info!(tag = tag.as_str(); "step 1");
            tokio::time::sleep(Duration::from_millis(1)).await;
            log::info!(tag = tag.as_str(); "step 2");
            let t = tag.clone();
            tokio::spawn(async move { log::info!(tag = t.as_str(); "spawned") }.in_current_scope())
                .await
                .unwrap();
            let ctx = correlation::current_context().unwrap();
            let t = tag.clone();
            tokio::task::spawn_blocking(move || {
                correlation::sync_scope(ctx, || log::info!(tag = t.as_str(); "blocking"))
            })
            .await
            .unwrap();
            Response::new(full("worked"))
        }
        "/stream" => Response::new(common::LoggingBody { tag, next: 0 }.boxed_unsync()),
        "/slow" => {
            let ms = query_param(query.as_deref(), "ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log::info!(tag = tag.as_str(); "slow");
            Response::new(full("slow"))
        }
        "/quiet" => {
            let mut r = Response::new(full(""));
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        _ => {
            let mut r = Response::new(full("not found"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    };
    Ok(response)
}

async fn harness() -> Harness<'static> {
    let ingest = common::ingest();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let svc = ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .service_fn(route);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    Harness {
        app: format!("http://{addr}"),
        ingest,
        flush: &common::flush,
    }
}

logiscout_testkit::scenario_tests!(harness);
