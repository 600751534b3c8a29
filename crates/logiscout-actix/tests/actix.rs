//! `.wrap(Correlation)` in a real actix-web server on 127.0.0.1, driven by a real HTTP client through the
//! shared scenario table (the same one the axum and hyper tests run).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use logiscout_actix::{Correlation, CorrelationId};
use logiscout_core::correlation::FutureExt;
use logiscout_testkit::scenarios::{query_param, Harness};

logiscout_testkit::prod_logger!(service = "actix-tests");

fn tag(req: &HttpRequest) -> String {
    query_param(Some(req.query_string()), "tag")
        .unwrap_or("none")
        .to_owned()
}

async fn hello(req: HttpRequest) -> HttpResponse {
    log::info!(tag = tag(&req); "hello");
    HttpResponse::Ok().body("hello")
}

async fn id(id: CorrelationId) -> HttpResponse {
    HttpResponse::Ok().body(id.to_string())
}

/// The ID the middleware put in the request's extensions, read by the re-exported path and by the core's
/// (one type: both must find it), or 404 when neither does.
async fn from_extensions(req: HttpRequest) -> HttpResponse {
    let ext = req.extensions();
    let ours = ext.get::<CorrelationId>().cloned();
    let core = ext
        .get::<logiscout_core::correlation::CorrelationId>()
        .cloned();
    match (ours, core) {
        (Some(a), Some(b)) if a == b => HttpResponse::Ok().body(a.to_string()),
        (a, b) => HttpResponse::NotFound().body(format!("extensions hold {a:?} / {b:?}")),
    }
}

async fn fail(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    log::error!(tag = tag(&req); "failing");
    Err(actix_web::error::ErrorInternalServerError("failed"))
}

async fn work(req: HttpRequest) -> HttpResponse {
    let t = tag(&req);
    log::info!(tag = t.as_str(); "step 1");
    actix_web::rt::time::sleep(Duration::from_millis(1)).await;
    log::info!(tag = t.as_str(); "step 2");
    let t2 = t.clone();
    actix_web::rt::spawn(
        async move { log::info!(tag = t2.as_str(); "spawned") }.in_current_scope(),
    )
    .await
    .unwrap();
    logiscout_actix::block(move || log::info!(tag = t.as_str(); "blocking"))
        .await
        .unwrap();
    HttpResponse::Ok().body("worked")
}

/// Three chunks; producing each one logs `chunk` with the tag.
struct LoggingBody {
    tag: String,
    next: usize,
}

impl MessageBody for LoggingBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.next == 3 {
            return Poll::Ready(None);
        }
        let n = self.next;
        self.next += 1;
        log::info!(tag = self.tag.as_str(), n = n; "chunk");
        Poll::Ready(Some(Ok(Bytes::from(format!("chunk {n}\n")))))
    }
}

async fn stream(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().body(LoggingBody {
        tag: tag(&req),
        next: 0,
    })
}

async fn slow(req: HttpRequest) -> HttpResponse {
    let ms = query_param(Some(req.query_string()), "ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
    log::info!(tag = tag(&req); "slow");
    HttpResponse::Ok().body("slow")
}

async fn quiet() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/hello", web::get().to(hello))
        .route("/id", web::get().to(id))
        .route("/extensions", web::get().to(from_extensions))
        .route("/fail", web::get().to(fail))
        .route("/work", web::get().to(work))
        .route("/stream", web::get().to(stream))
        .route("/slow", web::get().to(slow))
        .route("/quiet", web::get().to(quiet));
}

/// Serves on a free loopback port from a thread of its own (actix runs its own system).
fn serve(options: Option<logiscout_actix::CorrelationOptions>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = match options {
                None => HttpServer::new(|| App::new().wrap(Correlation).configure(routes))
                    .workers(2)
                    .listen(listener)
                    .unwrap()
                    .run(),
                Some(o) => HttpServer::new(move || App::new().wrap(o.clone()).configure(routes))
                    .workers(2)
                    .listen(listener)
                    .unwrap()
                    .run(),
            };
            let _ = server.await;
        })
    });
    format!("http://{addr}")
}

async fn harness() -> Harness<'static> {
    Harness {
        app: serve(None),
        ingest: ingest(),
        flush: &flush,
    }
}

logiscout_testkit::scenario_tests!(harness);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_change_header_trust_generator_and_recording() {
    let app = serve(Some(
        Correlation::options()
            .header_name(actix_web::http::header::HeaderName::from_static(
                "x-request-id",
            ))
            .trust_incoming(false)
            .generator(|| logiscout_core::correlation::CorrelationId::new("fixed-actix-id"))
            .record_all_requests(true),
    ));
    let h = Harness {
        app,
        ingest: ingest(),
        flush: &flush,
    };
    logiscout_testkit::scenarios::custom_options_apply(&h, "x-request-id", "fixed-actix-id").await;
}

/// `req.extensions().get::<CorrelationId>()` in a handler is `Some` with the request's ID: the incoming
/// one when trusted, else the generated one the response carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_finds_the_correlation_id_in_the_request_extensions() {
    let app = serve(None);
    let client = reqwest::Client::new();

    let sent = client
        .get(format!("{app}/extensions"))
        .header("x-correlation-id", "ext-incoming-1")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(sent.headers()["x-correlation-id"], "ext-incoming-1");
    assert_eq!(sent.text().await.unwrap(), "ext-incoming-1");

    let generated = client
        .get(format!("{app}/extensions"))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.status(), 200);
    let header = generated.headers()["x-correlation-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!header.is_empty());
    assert_eq!(generated.text().await.unwrap(), header);
}
