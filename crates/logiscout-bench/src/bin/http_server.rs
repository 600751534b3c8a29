//! The server side of the HTTP load test (`http_load`): a hello-world web service (`GET /` answers
//! `hello`, the handler logs nothing) in one of five variants that differ only in their middleware.
//!
//! ```text
//! cargo build --release -p logiscout-bench --bins
//! target/release/http_server <variant> <listen-addr>      # e.g. axum-correlation 127.0.0.1:0
//! ```
//!
//! | variant | framework | middleware |
//! |---|---|---|
//! | `axum-plain` | axum 0.8 | none |
//! | `axum-correlation` | axum 0.8 | `.layer(logiscout::tower::CorrelationLayer::new())` |
//! | `axum-tower-http` | axum 0.8 | tower-http `SetRequestIdLayer::x_request_id(MakeRequestUuid)` + `TraceLayer::new_for_http()` + `PropagateRequestIdLayer::x_request_id()`, no tracing subscriber |
//! | `actix-plain` | actix-web 4 | none |
//! | `actix-correlation` | actix-web 4 | `.wrap(logiscout::actix::Correlation)` |
//!
//! In every variant logiscout is initialised the same way before the server starts: `Env::Prod`,
//! `Console::Off`, filter `info` (`RUST_LOG` ignored), shipping to an in-process `logiscout-sink`
//! (quiet, keeping no batches) on a free loopback port. So the only difference between variants is the
//! layer. With the correlation middleware each request hands a start and an end event to the logiscout
//! worker (a thread of this process); as the handler logs nothing, the worker sends nothing (a request
//! without logs makes no payload) and the sink stays idle.
//!
//! Runtime: one worker thread. axum runs on a tokio current-thread runtime; actix-web with `.workers(1)`
//! (plus actix's accept thread). The load test pins the whole process to one CPU with `taskset`.
//!
//! Prints `listening on ADDR` on standard output once the socket is bound, then serves until killed.
//! Writes no file.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// The variants, in the order the load test reports them.
const VARIANTS: [&str; 5] = [
    "axum-plain",
    "axum-correlation",
    "axum-tower-http",
    "actix-plain",
    "actix-correlation",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (variant, addr) = match args.as_slice() {
        [variant, addr] if VARIANTS.contains(&variant.as_str()) => match addr.parse::<SocketAddr>()
        {
            Ok(addr) => (variant.clone(), addr),
            Err(e) => {
                eprintln!("http_server: bad listen address {addr:?}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!(
                "usage: http_server <variant> <listen-addr>\n  variants: {}",
                VARIANTS.join(", ")
            );
            return ExitCode::from(2);
        }
    };

    // The same logger in every variant: Prod, console off, shipping to a local sink.
    let sink = match logiscout_sink::Sink::start(logiscout_sink::SinkConfig {
        quiet: true,
        keep_batches: false,
        ..Default::default()
    }) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("http_server: cannot start the in-process ingest sink: {e}");
            return ExitCode::FAILURE;
        }
    };
    let guard = match logiscout::init(
        logiscout::Config::new("http-bench")
            .env(logiscout::Env::Prod)
            .api_token("lgs_bench")
            .endpoint(sink.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    ) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("http_server: logiscout::init failed: {e}");
            return ExitCode::FAILURE;
        }
    };

    let served = if variant.starts_with("axum-") {
        serve_axum(&variant, addr)
    } else {
        serve_actix(&variant, addr)
    };
    drop(guard);
    drop(sink);
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("http_server: {variant} on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn announce(addr: SocketAddr) {
    let mut out = std::io::stdout().lock();
    // The load test waits for this line; if stdout is gone there is nobody to tell.
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

async fn hello() -> &'static str {
    "hello"
}

fn axum_router(variant: &str) -> axum::Router {
    use axum::routing::get;
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;

    let router = axum::Router::new().route("/", get(hello));
    match variant {
        "axum-plain" => router,
        "axum-correlation" => router.layer(logiscout::tower::CorrelationLayer::new()),
        // `Router::layer` wraps what is already there, so the last call is the outermost layer. This is
        // the same stack as `ServiceBuilder::new().layer(SetRequestId).layer(Trace).layer(PropagateRequestId)`
        // in logiscout-tower's middleware bench: SetRequestId outermost, PropagateRequestId innermost.
        "axum-tower-http" => router
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(TraceLayer::new_for_http())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid)),
        other => unreachable!("not an axum variant: {other}"),
    }
}

fn serve_axum(variant: &str, addr: SocketAddr) -> std::io::Result<()> {
    let router = axum_router(variant);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        announce(listener.local_addr()?);
        axum::serve(listener, router).await
    })
}

fn serve_actix(variant: &str, addr: SocketAddr) -> std::io::Result<()> {
    use actix_web::{web, App, HttpServer};

    // `App::wrap` changes the App's type, so each variant builds its own server; the macro keeps the
    // two otherwise identical (a `Condition` middleware would add a branch to the plain variant).
    macro_rules! serve {
        ($app:expr) => {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(|| $app.route("/", web::get().to(hello)))
                    .workers(1)
                    .bind(addr)?;
                for bound in server.addrs() {
                    announce(bound);
                }
                server.run().await
            })
        };
    }
    match variant {
        "actix-plain" => serve!(App::new()),
        "actix-correlation" => serve!(App::new().wrap(logiscout::actix::Correlation)),
        other => unreachable!("not an actix variant: {other}"),
    }
}
