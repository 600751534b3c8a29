//! The whole product, end to end, in one command: `cargo run --example demo`.
//!
//! Starts the local ingest sink (`logiscout-sink`) on a free loopback port, and an axum service with
//! `CorrelationLayer` whose logger runs in `Env::Prod`, shipping to the sink. A real HTTP client sends
//! 300 requests, 16 at a time: every 10th brings its own `x-correlation-id`, every 15th fails with a 500,
//! and each handler logs two records. A background job logs 20 records under its own correlation scope.
//! Then the server drains, the logger shuts down (flushing what waits), and the demo checks what the
//! sink stored: every log under the correlation ID its response echoed, the incoming IDs kept, the 500s
//! recorded as 500, the job's logs under `nightly-job`, nothing dropped, and no body refused by the
//! wire-format schema. It prints a summary, and exits with status 1 when anything is missing.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use logiscout::correlation;
use logiscout::tower::{CorrelationId, CorrelationLayer};
use logiscout_sink::{Sink, SinkConfig};
use serde_json::Value;

const REQUESTS: u64 = 300;
const CONCURRENCY: usize = 16;
const JOB_ID: &str = "nightly-job";
const JOB_LOGS: u64 = 20;
const TOKEN: &str = "lgs_demo_token";
const HEADER: &str = "x-correlation-id";

/// `GET /orders/{no}`: two info records, 200.
async fn order(Path(no): Path<u64>, id: CorrelationId) -> String {
    log::info!(request_no = no; "Order received");
    tokio::time::sleep(Duration::from_millis(1)).await;
    log::info!(request_no = no, total_cents = no * 250; "Order priced");
    id.to_string()
}

/// `GET /payments/{no}`: an info and an error record, 500.
async fn payment(Path(no): Path<u64>, id: CorrelationId) -> (StatusCode, String) {
    log::info!(request_no = no; "Charging card");
    log::error!(request_no = no, reason = "card_declined"; "Payment failed");
    (StatusCode::INTERNAL_SERVER_ERROR, id.to_string())
}

/// The background job: its own correlation scope, outside any request.
async fn nightly_job() {
    correlation::scope(correlation::CorrelationId::new(JOB_ID), async {
        for item in 0..JOB_LOGS {
            log::info!(item = item; "Nightly job: invoice reconciled");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// What the client sent and got back for one request.
struct Sent {
    no: u64,
    path: String,
    incoming: Option<String>,
    status: u16,
    /// The `x-correlation-id` the response echoed.
    echoed: String,
    /// The ID the handler saw (its response body).
    seen_by_handler: String,
}

impl Sent {
    fn expected_status(&self) -> u16 {
        if self.no % 15 == 0 {
            500
        } else {
            200
        }
    }
}

fn request_for(no: u64) -> (String, Option<String>) {
    let path = if no % 15 == 0 {
        format!("/payments/{no}")
    } else {
        format!("/orders/{no}")
    };
    let incoming = (no % 10 == 0).then(|| format!("demo-incoming-{no}"));
    (path, incoming)
}

/// Serves the app, sends every request and runs the job; returns what the client saw.
async fn drive(base_app: Router) -> Result<Vec<Sent>, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the service: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, base_app)
            .with_graceful_shutdown(async {
                stopped.await.ok();
            })
            .await
    });
    let job = tokio::spawn(nightly_job());

    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(1));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, next, base) = (client.clone(), next.clone(), base.clone());
        workers.spawn(async move {
            let mut sent = Vec::new();
            loop {
                let no = next.fetch_add(1, Ordering::Relaxed);
                if no > REQUESTS {
                    return Ok::<_, String>(sent);
                }
                let (path, incoming) = request_for(no);
                let mut req = client.get(format!("{base}{path}"));
                if let Some(id) = &incoming {
                    req = req.header(HEADER, id);
                }
                let resp = req.send().await.map_err(|e| format!("request {no}: {e}"))?;
                let status = resp.status().as_u16();
                let echoed = resp
                    .headers()
                    .get(HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let seen_by_handler = resp
                    .text()
                    .await
                    .map_err(|e| format!("request {no}: {e}"))?;
                sent.push(Sent {
                    no,
                    path,
                    incoming,
                    status,
                    echoed,
                    seen_by_handler,
                });
            }
        });
    }
    let mut sent = Vec::new();
    while let Some(done) = workers.join_next().await {
        sent.extend(done.map_err(|e| format!("client task: {e}"))??);
    }
    job.await.map_err(|e| format!("background job: {e}"))?;

    let _ = stop.send(());
    server
        .await
        .map_err(|e| format!("server task: {e}"))?
        .map_err(|e| format!("server: {e}"))?;
    sent.sort_by_key(|s| s.no);
    Ok(sent)
}

/// Everything the sink stored under one correlation ID.
#[derive(Default)]
struct Received {
    logs: Vec<Value>,
    /// `request` objects of its payloads (partial payloads included).
    requests: Vec<Value>,
}

fn by_correlation_id(batches: &[Value]) -> HashMap<String, Received> {
    let mut out: HashMap<String, Received> = HashMap::new();
    for batch in batches {
        for p in batch["payloads"].as_array().into_iter().flatten() {
            let id = p["correlationId"].as_str().unwrap_or_default().to_owned();
            let entry = out.entry(id).or_default();
            entry
                .logs
                .extend(p["logs"].as_array().into_iter().flatten().cloned());
            if p["request"].is_object() {
                entry.requests.push(p["request"].clone());
            }
        }
    }
    out
}

/// Checks one request against what the sink stored; returns whether all was right.
fn check_request(
    sent: &Sent,
    received: &HashMap<String, Received>,
    problems: &mut Vec<String>,
) -> bool {
    let before = problems.len();
    check_request_into(sent, received, problems);
    problems.len() == before
}

fn check_request_into(
    sent: &Sent,
    received: &HashMap<String, Received>,
    problems: &mut Vec<String>,
) {
    let no = sent.no;
    if sent.status != sent.expected_status() {
        problems.push(format!(
            "request {no}: answered {}, expected {}",
            sent.status,
            sent.expected_status()
        ));
    }
    if sent.echoed.is_empty() {
        problems.push(format!("request {no}: no {HEADER} on the response"));
        return;
    }
    if sent.seen_by_handler != sent.echoed {
        problems.push(format!(
            "request {no}: the handler saw {} but the response echoed {}",
            sent.seen_by_handler, sent.echoed
        ));
    }
    if let Some(incoming) = &sent.incoming {
        if &sent.echoed != incoming {
            problems.push(format!(
                "request {no}: incoming ID {incoming} replaced by {}",
                sent.echoed
            ));
        }
    }
    let Some(got) = received.get(&sent.echoed) else {
        problems.push(format!(
            "request {no}: nothing arrived under {}",
            sent.echoed
        ));
        return;
    };
    let numbers: Vec<Option<u64>> = got
        .logs
        .iter()
        .map(|l| l["metadata"]["request_no"].as_u64())
        .collect();
    if numbers != [Some(no), Some(no)] {
        problems.push(format!(
            "request {no}: expected its 2 logs under {}, found request_no {numbers:?}",
            sent.echoed
        ));
    }
    // (Batches may arrive in any order, so these checks do not depend on it.)
    let errors = got.logs.iter().filter(|l| l["level"] == "error").count();
    let expected_errors = usize::from(sent.expected_status() == 500);
    if errors != expected_errors {
        problems.push(format!(
            "request {no}: {errors} error logs, expected {expected_errors}"
        ));
    }
    let closing = got.requests.iter().find(|r| r["statusCode"].is_u64());
    match closing {
        Some(r)
            if r["statusCode"] == sent.expected_status()
                && r["method"] == "GET"
                && r["path"] == sent.path.as_str() => {}
        Some(r) => problems.push(format!(
            "request {no}: recorded as {r}, expected GET {} {}",
            sent.path,
            sent.expected_status()
        )),
        None => problems.push(format!("request {no}: no statusCode recorded")),
    }
}

fn main() -> ExitCode {
    let started = Instant::now();
    match run(started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problems) => {
            eprintln!("\ndemo FAILED: {} problem(s)", problems.len());
            for p in problems.iter().take(20) {
                eprintln!("  - {p}");
            }
            if problems.len() > 20 {
                eprintln!("  - … and {} more", problems.len() - 20);
            }
            ExitCode::FAILURE
        }
    }
}

fn run(started: Instant) -> Result<(), Vec<String>> {
    let one = |e: String| vec![e];

    // 1. The local ingest endpoint, quiet: the summary below is the output.
    let sink = Sink::start(SinkConfig {
        token: Some(TOKEN.to_owned()),
        quiet: true,
        ..SinkConfig::default()
    })
    .map_err(|e| one(format!("cannot start the sink: {e}")))?;

    // 2. The logger, in Prod, shipping to it; no console output.
    let guard = logiscout::init(
        logiscout::Config::new("demo-shop")
            .env(logiscout::Env::Prod)
            .api_token(TOKEN)
            .endpoint(sink.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false),
    )
    .map_err(|e| one(format!("cannot initialise logiscout: {e}")))?;
    println!(
        "logiscout demo: an axum service with CorrelationLayer (Env::Prod) shipping to a local sink at {}",
        sink.url()
    );

    // 3. The service, the client and the job, on a runtime that ends before the logger shuts down.
    let app = Router::new()
        .route("/orders/{no}", get(order))
        .route("/payments/{no}", get(payment))
        .layer(CorrelationLayer::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| one(format!("cannot build the runtime: {e}")))?;
    let sent = runtime.block_on(drive(app)).map_err(one)?;
    drop(runtime);

    // 4. Graceful shutdown: everything logged is delivered (or counted as dropped).
    let report = guard.shutdown(Duration::from_secs(5));
    let stats = logiscout::stats();
    let batches = sink.batches();
    let sink_stats = sink.shutdown();
    let took = started.elapsed();

    // 5. What arrived, checked against what was sent.
    let mut problems = Vec::new();
    let received = by_correlation_id(&batches);
    let ids_ok = sent
        .iter()
        .filter(|s| check_request(s, &received, &mut problems))
        .count();
    let kept = sent
        .iter()
        .filter(|s| s.incoming.as_deref() == Some(s.echoed.as_str()))
        .filter(|s| received.contains_key(&s.echoed))
        .count();
    let recorded_500 = sent
        .iter()
        .filter_map(|s| received.get(&s.echoed))
        .filter(|r| r.requests.iter().any(|q| q["statusCode"] == 500))
        .count();
    if sent.len() as u64 != REQUESTS {
        problems.push(format!("{} of {REQUESTS} requests completed", sent.len()));
    }
    let mut echoed: Vec<&str> = sent.iter().map(|s| s.echoed.as_str()).collect();
    echoed.sort_unstable();
    echoed.dedup();
    if echoed.len() != sent.len() {
        problems.push("two requests shared a correlation ID".to_owned());
    }
    let job = received.get(JOB_ID);
    let mut job_items: Vec<Option<u64>> = job
        .map(|j| {
            j.logs
                .iter()
                .map(|l| l["metadata"]["item"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    job_items.sort_unstable();
    let job_ok = job_items == (0..JOB_LOGS).map(Some).collect::<Vec<_>>()
        && job.is_some_and(|j| j.requests.is_empty());
    if !job_ok {
        problems.push(format!(
            "job: expected items 0..{JOB_LOGS} under {JOB_ID} and no request object, found {} logs: {job_items:?}",
            job_items.len()
        ));
    }
    for id in received.keys() {
        if id != JOB_ID && echoed.binary_search(&id.as_str()).is_err() {
            problems.push(format!("unexpected correlation ID {id} in the sink"));
        }
    }
    let expected_logs = REQUESTS * 2 + JOB_LOGS;
    if sink_stats.logs != expected_logs {
        problems.push(format!(
            "the sink stored {} logs, expected {expected_logs}",
            sink_stats.logs
        ));
    }
    if !report.complete || stats.logs_dropped != 0 || stats.logs_sent != expected_logs {
        problems.push(format!(
            "logiscout::stats(): {} enqueued, {} sent, {} dropped (shutdown complete: {})",
            stats.logs_enqueued, stats.logs_sent, stats.logs_dropped, report.complete
        ));
    }
    if sink_stats.rejected != 0 || sink_stats.unauthorized != 0 {
        problems.push(format!(
            "the sink refused {} bodies (schema) and {} requests (token)",
            sink_stats.rejected, sink_stats.unauthorized
        ));
    }
    if sink_stats.dropped_logs != 0 {
        problems.push(format!(
            "the batches report {} dropped logs",
            sink_stats.dropped_logs
        ));
    }

    let incoming = sent.iter().filter(|s| s.incoming.is_some()).count();
    let answered_500 = sent.iter().filter(|s| s.status == 500).count();
    println!();
    println!(
        "  requests sent    {} ({CONCURRENCY} at a time): {incoming} with an incoming {HEADER}, {answered_500} answered 500",
        sent.len()
    );
    println!("  background job   {JOB_LOGS} logs in correlation scope \"{JOB_ID}\"");
    println!(
        "  sink received    {} batches, {} payloads, {} logs; {} duplicates, {} rejected by the schema",
        sink_stats.batches,
        sink_stats.payloads,
        sink_stats.logs,
        sink_stats.duplicates,
        sink_stats.rejected
    );
    println!(
        "  correlation IDs  {} of {} checked OK: each request's logs under the ID its response echoed,",
        ids_ok + usize::from(job_ok),
        sent.len() + 1,
    );
    println!(
        "                   {kept} incoming IDs kept, {recorded_500} recorded with statusCode 500, the job's under \"{JOB_ID}\""
    );
    println!(
        "  dropped          {} (logiscout::stats: {} enqueued, {} sent)",
        stats.logs_dropped, stats.logs_enqueued, stats.logs_sent
    );
    println!("  took             {:.2} s", took.as_secs_f64());
    if problems.is_empty() {
        println!("\ndemo ok: {expected_logs} of {expected_logs} logs arrived, under the right correlation IDs");
        Ok(())
    } else {
        Err(problems)
    }
}
