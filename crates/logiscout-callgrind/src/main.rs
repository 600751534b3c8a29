//! The fixed workload of the instruction-count regression guard, `scripts/callgrind-guard.sh` (see
//! "Instruction counts in CI" in docs/benchmarks.md). Meant to run under
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=<each measure_* function>`: callgrind
//! then counts only what runs inside the `measure_*` functions below, on the thread that calls them. Run
//! on its own it just does the work (a quick check that it runs).
//!
//! What is measured (the logging cases on the main thread, the middleware on a thread of its own):
//!
//! - `measure_log_info`: `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created
//!   okay!!")` inside `sync_scope(CorrelationId::new(..))`, logiscout in `Env::Prod`, console off,
//!   shipping to a discarding endpoint on loopback (in this process);
//! - `measure_tracing_event`: the same fields as a `tracing::info!` inside an entered span, through
//!   `tracing_subscriber::registry().with(logiscout::tracing::layer())`;
//! - `measure_axum_no_layer` / `measure_axum_correlation_layer`: one `GET /` (no incoming ID, so the
//!   layer makes one) through a hello-world axum `Router` with `tower::ServiceExt::oneshot` on a tokio
//!   current-thread runtime, the response body collected; the layer's cost is the difference;
//! - `measure_actix_no_middleware` / `measure_actix_correlation`: the same through actix-web's
//!   `test::call_service`, without and with `.wrap(Correlation)`.
//!
//! Repeatable counts: the two logging cases run in rounds of [`ROUND`] calls. Before each round, outside
//! the measured functions, the program flushes (the worker has rendered every record and handed every
//! capture buffer back) and sleeps [`SETTLE`] so the worker is asleep again. A round is shorter than
//! `max_batch_logs` (200), so no call wakes the worker, and it takes fewer capture buffers than a warm-up
//! put in circulation, so no call allocates one: each round starts from the same state and takes the same
//! path. (One long loop instead lets the count depend on how far the worker got: a call that finds the
//! pool empty allocates, one that finds the worker asleep at 200 queued records wakes it.)
//!
//! For each measured function it prints `measured <function> <calls>` on stdout; the script divides the
//! function's inclusive count by `<calls>`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use logiscout::correlation::{sync_scope, CorrelationId};
use tower::ServiceExt;
use tracing_subscriber::prelude::*;

/// The correlation ID of the logging cases (the benches' `peers::CORRELATION_ID`).
const CORRELATION_ID: &str = "bench-request-0001";
/// Calls per measured round of the logging cases: below `max_batch_logs` (200), the queue length at
/// which a call wakes the sleeping worker, and below the capture buffers in circulation (see main).
const ROUND: u64 = 100;
/// Measured rounds per logging case.
const ROUNDS: u64 = 50;
/// Unmeasured rounds first: the first calls allocate capture buffers, announce the scope, fill caches.
const WARM_UP_ROUNDS: u64 = 5;
/// After each flush: time for the worker to finish its turn and wait again, before the next round.
const SETTLE: Duration = Duration::from_millis(20);
/// Requests per middleware case (after [`WARM_UP_REQUESTS`] unmeasured ones).
const REQUESTS: u64 = 2_000;
const WARM_UP_REQUESTS: u64 = 200;

/// `log::info!` with the benchmark's three key-values, `n` times (user_id from `first`).
#[inline(never)]
fn log_info(first: u64, n: u64) {
    for i in first..first + n {
        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
    }
}

/// The same record as a `tracing` event, `n` times.
#[inline(never)]
fn tracing_event(first: u64, n: u64) {
    for i in first..first + n {
        tracing::info!(
            user_id = i,
            ratio = 0.25,
            region = "eu-west-1",
            "Order created okay!!"
        );
    }
}

/// One measured round of [`log_info`].
#[inline(never)]
fn measure_log_info(first: u64) {
    log_info(first, ROUND);
}

/// One measured round of [`tracing_event`].
#[inline(never)]
fn measure_tracing_event(first: u64) {
    tracing_event(first, ROUND);
}

/// `n` requests through `one`; returns the body bytes received. `case` only keeps the four callers below
/// apart: identical functions would be merged into one symbol, and callgrind could not tell them apart.
#[inline(never)]
fn requests(case: &'static str, n: u64, one: &mut dyn FnMut() -> usize) -> usize {
    std::hint::black_box(case);
    let mut bytes = 0;
    for _ in 0..n {
        bytes += one();
    }
    bytes
}

/// `n` requests through the axum router without the layer.
#[inline(never)]
fn measure_axum_no_layer(n: u64, one: &mut dyn FnMut() -> usize) -> usize {
    requests("axum_no_layer", n, one)
}

/// `n` requests through the axum router with `CorrelationLayer`.
#[inline(never)]
fn measure_axum_correlation_layer(n: u64, one: &mut dyn FnMut() -> usize) -> usize {
    requests("axum_correlation_layer", n, one)
}

/// `n` requests through the actix app without middleware.
#[inline(never)]
fn measure_actix_no_middleware(n: u64, one: &mut dyn FnMut() -> usize) -> usize {
    requests("actix_no_middleware", n, one)
}

/// `n` requests through the actix app with `Correlation`.
#[inline(never)]
fn measure_actix_correlation(n: u64, one: &mut dyn FnMut() -> usize) -> usize {
    requests("actix_correlation", n, one)
}

/// Unmeasured requests first: the first ones fill caches, pools and the runtime's state.
fn warm_up(one: &mut dyn FnMut() -> usize) {
    requests("warm-up", WARM_UP_REQUESTS, one);
}

fn report(function: &str, calls: u64) {
    println!("measured callgrind_guard::{function} {calls}");
}

/// Waits until the worker delivered everything logged so far, then lets it fall asleep.
fn settle() {
    let report = logiscout::flush(Duration::from_secs(60));
    assert!(report.complete, "flush incomplete: {:?}", report.stats);
    std::thread::sleep(SETTLE);
}

/// Warm-up (`calls`, unmeasured), then [`ROUNDS`] rounds of `measure`, each after a [`settle`]. Returns
/// the calls made.
fn logging_case(calls: fn(u64, u64), measure: fn(u64)) -> u64 {
    // One burst of two rounds puts about 2 × ROUND capture buffers in circulation, so a round's ROUND
    // calls always find theirs in this thread's cache or the pool (the worker keeps at most 31 in a
    // partial bundle).
    calls(0, 2 * ROUND);
    let mut first = 2 * ROUND;
    for _ in 0..WARM_UP_ROUNDS {
        settle();
        calls(first, ROUND);
        first += ROUND;
    }
    for _ in 0..ROUNDS {
        settle();
        measure(first);
        first += ROUND;
    }
    settle();
    first
}

/// A loopback ingest endpoint that answers every request `200 OK` and keeps nothing, on threads of its
/// own (never counted). logiscout-sink would do, but its schema validator is most of a release build.
fn start_discarding_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    std::thread::Builder::new()
        .name("ingest".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || discard(conn));
            }
        })
        .expect("spawn the ingest thread");
    format!("http://{addr}/ingest")
}

/// Reads HTTP/1.1 requests with a `Content-Length` body from `conn` and answers each `200 OK`, until the
/// client closes the connection.
fn discard(mut conn: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let body_len = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        if conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

async fn hello() -> &'static str {
    "hello"
}

/// The middleware cases, on a new thread, so glibc gives its allocations a fresh arena of their own. (Run
/// on the main thread after the logging cases, whose arena other threads also free into at moments that
/// depend on timing, the axum case took `malloc`'s slow path, `_int_malloc`, once per request in one run
/// of six: +264 instructions per request. On its own thread: no such run in 39.)
fn middleware_cases() {
    // 3. axum, without and with CorrelationLayer (no incoming ID: the layer makes a new one).
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime");
    let bare = Router::new().route("/", get(hello)).with_state(());
    let layered = Router::new()
        .route("/", get(hello))
        .layer(logiscout::tower::CorrelationLayer::new())
        .with_state(());
    let axum_one = |router: &Router, header: &mut Option<usize>| {
        rt.block_on(async {
            let req = Request::get("/").body(Body::empty()).expect("request");
            let resp = router.clone().oneshot(req).await.expect("infallible");
            *header = resp
                .headers()
                .get("x-correlation-id")
                .map(|v| v.as_bytes().len());
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            body.len()
        })
    };
    let mut header = None;
    let mut bare_one = || axum_one(&bare, &mut header);
    warm_up(&mut bare_one);
    let bytes = measure_axum_no_layer(REQUESTS, &mut bare_one);
    assert_eq!(bytes, 5 * REQUESTS as usize, "every answer is `hello`");
    assert_eq!(header, None, "no ID without the layer");
    let mut layered_one = || axum_one(&layered, &mut header);
    warm_up(&mut layered_one);
    let bytes = measure_axum_correlation_layer(REQUESTS, &mut layered_one);
    assert_eq!(bytes, 5 * REQUESTS as usize, "every answer is `hello`");
    assert_eq!(header, Some(36), "the layer answers with a new UUID");
    report("measure_axum_no_layer", REQUESTS);
    report("measure_axum_correlation_layer", REQUESTS);

    // 4. actix-web, without and with Correlation, in process through actix's test service.
    let sys = actix_web::rt::System::new();
    let bare = sys.block_on(actix_web::test::init_service(
        actix_web::App::new().route("/", actix_web::web::get().to(hello)),
    ));
    let wrapped = sys.block_on(actix_web::test::init_service(
        actix_web::App::new()
            .wrap(logiscout::actix::Correlation)
            .route("/", actix_web::web::get().to(hello)),
    ));
    let mut header = None;
    let mut bare_one = || {
        sys.block_on(async {
            let req = actix_web::test::TestRequest::get().uri("/").to_request();
            let resp = actix_web::test::call_service(&bare, req).await;
            header = resp
                .headers()
                .get("x-correlation-id")
                .map(|v| v.as_bytes().len());
            actix_web::test::read_body(resp).await.len()
        })
    };
    warm_up(&mut bare_one);
    let bytes = measure_actix_no_middleware(REQUESTS, &mut bare_one);
    assert_eq!(bytes, 5 * REQUESTS as usize, "every answer is `hello`");
    assert_eq!(header, None, "no ID without the middleware");
    let mut header = None;
    let mut wrapped_one = || {
        sys.block_on(async {
            let req = actix_web::test::TestRequest::get().uri("/").to_request();
            let resp = actix_web::test::call_service(&wrapped, req).await;
            header = resp
                .headers()
                .get("x-correlation-id")
                .map(|v| v.as_bytes().len());
            actix_web::test::read_body(resp).await.len()
        })
    };
    warm_up(&mut wrapped_one);
    let bytes = measure_actix_correlation(REQUESTS, &mut wrapped_one);
    assert_eq!(bytes, 5 * REQUESTS as usize, "every answer is `hello`");
    assert_eq!(header, Some(36), "the middleware answers with a new UUID");
    report("measure_actix_no_middleware", REQUESTS);
    report("measure_actix_correlation", REQUESTS);
}

fn main() {
    let endpoint = start_discarding_endpoint();
    let guard = logiscout::init(
        logiscout::Config::new("callgrind-guard")
            .env(logiscout::Env::Prod)
            .api_token("lgs_bench")
            .endpoint(endpoint)
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init logiscout (Prod, shipping to the loopback endpoint)");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout::tracing::layer()),
    )
    .expect("install the registry with logiscout's layer");

    // 1. The hot path.
    let id = CorrelationId::new(CORRELATION_ID);
    let logged = sync_scope(id, || logging_case(log_info, measure_log_info));
    report("measure_log_info", ROUNDS * ROUND);

    // 2. One tracing event.
    let span = tracing::info_span!("request", correlation_id = CORRELATION_ID);
    let traced = span.in_scope(|| logging_case(tracing_event, measure_tracing_event));
    report("measure_tracing_event", ROUNDS * ROUND);

    let stats = logiscout::stats();
    assert_eq!(stats.logs_dropped, 0, "the drop path must not be measured");
    assert_eq!(
        stats.logs_sent,
        logged + traced,
        "every record logged must have been sent"
    );

    // 3 and 4, on a thread of their own (see `middleware_cases`).
    std::thread::Builder::new()
        .name("middleware".into())
        .spawn(middleware_cases)
        .expect("spawn the middleware thread")
        .join()
        .expect("the middleware cases panicked");

    let report = guard.shutdown(Duration::from_secs(10));
    assert_eq!(report.stats.logs_dropped, 0, "nothing dropped at shutdown");
}
