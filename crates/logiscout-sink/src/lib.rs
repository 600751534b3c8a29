//! A local stand-in for the LogiScout ingest endpoint, for development and tests.
//!
//! The sink accepts the wire format (plain or gzip) on `POST /ingest` (and `POST /`), checks the
//! `Authorization: Bearer` token when one is configured, validates each body against the wire format's JSON
//! Schema, drops duplicate batches by `X-LogiScout-Batch-Id` (within a window of the most recent batch IDs,
//! [`SinkConfig::dedup_window`]), and keeps what it accepted: in memory, in a JSON-lines file, and as one
//! readable line per batch on standard output. `GET /stats` answers the counts.
//! [`Faults`] make it misbehave on purpose (status codes, `Retry-After`, latency, hanging, closing the
//! connection) to test a client's retries.
//!
//! Memory: with [`SinkConfig::keep_batches`] off (as the command line runs it), what the sink keeps stays
//! bounded however long it runs: the counters, and at most [`SinkConfig::dedup_window`] batch IDs. It keeps
//! nothing per correlation ID.
//!
//! CPU: a body is parsed in place, serde_json's own parser filling a flat vector of nodes that borrow
//! the body's strings (about twice its size, freed when it is answered), and checked against the schema
//! there, without building a `serde_json::Value`. A body refused, or one with an object repeating a key
//! (which a `Value` reads as its last; see `src/doc.rs`), takes the `Value` path, which words the
//! refusal; so does a batch kept in memory or written to the [`SinkConfig::out`] file, as a `Value`
//! built from the nodes.
//!
//! It runs on a thread and a tokio runtime of its own, so it can be used from sync or async code alike:
//!
//! ```
//! use logiscout_sink::{Sink, SinkConfig};
//!
//! let sink = Sink::start(SinkConfig { quiet: true, ..SinkConfig::default() })?;
//! println!("point the logger at {}", sink.url()); // http://127.0.0.1:PORT/ingest
//! assert_eq!(sink.stats().batches, 0);
//! sink.shutdown();
//! # Ok::<(), logiscout_sink::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde_json::{json, Value};

mod doc;
/// The OTLP/HTTP logs receiver (`logiscout-sink --otlp`).
#[cfg(feature = "otlp")]
pub mod otlp;
mod server;

use doc::{Doc, DocNode, InPlace};

/// The wire format's JSON Schema (a copy of `logiscout-testkit`'s, checked equal by a test).
pub const SCHEMA: &str = include_str!("wire-format.schema.json");

/// The default limit on a request body, on the wire and after gunzip: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The default [`SinkConfig::dedup_window`]: the last 100,000 stored batch IDs are remembered.
///
/// About 10 MB with logiscout's 36-character batch IDs (roughly 100 bytes per ID with the set's and the
/// queue's overhead); at 100 batches a second, the last quarter of an hour: far longer than a client's
/// retries of one batch last.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

/// The batch ID header the client sends (the same on every retry of one batch).
pub const BATCH_ID_HEADER: &str = "x-logiscout-batch-id";

/// How long [`SinkHandle::shutdown`] lets open connections finish before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// At most this many schema violations are listed in a 400 answer.
const MAX_REASONS: usize = 10;

/// What the sink does and where it listens.
#[derive(Clone)]
pub struct SinkConfig {
    /// The address to listen on; port 0 picks a free one (see [`SinkHandle::addr`]).
    pub listen: SocketAddr,
    /// When set, every ingest request must carry `Authorization: Bearer <token>` (else 401).
    pub token: Option<String>,
    /// Append each accepted batch (the decoded body, one JSON object per line) to this file.
    pub out: Option<PathBuf>,
    /// Misbehaviour on purpose.
    pub faults: Faults,
    /// Print nothing (no line per batch).
    pub quiet: bool,
    /// Bodies larger than this, on the wire or after gunzip, are answered 413.
    pub max_body_bytes: usize,
    /// Keep accepted batches in memory for [`SinkHandle::batches`] and [`SinkHandle::logs`]. They grow with
    /// every stored batch, without bound: for tests; switch it off for a long-running sink (the command line
    /// always does).
    pub keep_batches: bool,
    /// How many of the most recent stored batch IDs are remembered to recognise a retried batch.
    ///
    /// A batch whose ID is among them is answered 200 and counted as a duplicate, not stored. Each stored
    /// batch ID is remembered until `dedup_window` newer batch IDs have been stored after it (first in,
    /// first out; a duplicate does not refresh it); a retry arriving after that is stored again, and counted
    /// again in every stat. Memory is bounded by the window: about 100 bytes plus the ID's length per ID.
    /// 0 remembers nothing: every batch is stored. Default [`DEFAULT_DEDUP_WINDOW`].
    pub dedup_window: usize,
}

impl Default for SinkConfig {
    /// `127.0.0.1:0`, no token, no file, no faults, printing, 16 MiB, batches kept in memory, the last
    /// 100,000 batch IDs remembered.
    fn default() -> Self {
        SinkConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            out: None,
            faults: Faults::default(),
            quiet: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            keep_batches: true,
            dedup_window: DEFAULT_DEDUP_WINDOW,
        }
    }
}

impl std::fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("out", &self.out)
            .field("faults", &self.faults)
            .field("quiet", &self.quiet)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("keep_batches", &self.keep_batches)
            .field("dedup_window", &self.dedup_window)
            .finish()
    }
}

/// Fault injection for ingest requests (`POST /ingest`); `GET /stats` always answers.
///
/// A request is *faulted* with probability [`rate`](Faults::rate) (every request when it is `None`, as
/// soon as a fault is configured). A faulted request hangs when [`hang`](Faults::hang) is set, else has
/// its connection closed when [`close`](Faults::close) is set, else is answered with one of
/// [`statuses`](Faults::statuses) (picked at random; 503 when only a rate is given), with
/// `Retry-After` when [`retry_after`](Faults::retry_after) is set. A faulted request is not stored.
/// [`latency`](Faults::latency) delays every ingest answer, faulted or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Answer faulted requests with one of these status codes (200–599).
    pub statuses: Vec<u16>,
    /// The fraction of ingest requests that are faulted, 0.0–1.0 (`None`: all of them).
    pub rate: Option<f64>,
    /// `Retry-After: <seconds>` on fault status answers.
    pub retry_after: Option<u64>,
    /// Wait this long before answering any ingest request.
    pub latency: Duration,
    /// Faulted requests are never answered. Each hung request keeps its connection (a socket and a task)
    /// until the sink shuts down, even after the client has given up: for short tests, not a long run.
    pub hang: bool,
    /// Faulted requests have their TCP connection closed without an answer.
    pub close: bool,
    /// Seed for the random choices (rate, status), for reproducible runs.
    pub seed: Option<u64>,
}

impl Faults {
    /// Whether any request can be faulted (latency alone is not a fault).
    pub fn any(&self) -> bool {
        !self.statuses.is_empty() || self.rate.is_some() || self.hang || self.close
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(rate) = self.rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("the fail rate must be between 0 and 1, not {rate}"));
            }
        }
        if let Some(bad) = self.statuses.iter().find(|s| !(200..=599).contains(*s)) {
            return Err(format!(
                "a fail status must be between 200 and 599, not {bad}"
            ));
        }
        if self.hang && self.close {
            return Err("hang and close cannot both be set".to_owned());
        }
        if self.retry_after.is_some() && (self.hang || self.close || !self.answers_status()) {
            return Err(
                "retry-after needs a fault answered with a status (a fail status or a fail rate)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    fn answers_status(&self) -> bool {
        !self.statuses.is_empty() || self.rate.is_some()
    }
}

/// The sink's counters, as `GET /stats` answers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SinkStats {
    /// Batches accepted and stored (duplicates not counted).
    pub batches: u64,
    /// Log entries in the stored batches.
    pub logs: u64,
    /// Completed requests: stored payloads that close a request, i.e. carry a `request` object and a
    /// non-null `endedAt` or `request.statusCode`.
    ///
    /// A request whose logs span several batches is sent in pieces, and only its last piece carries the end
    /// (logiscout's clients clear `endedAt`, `durationMS` and `statusCode` on the others), so each completed
    /// request counts once, and a request still open is not counted yet. Counted from each payload alone,
    /// without remembering correlation IDs, so memory stays flat: a client that sent the end of one request
    /// twice, in batches with different IDs, would have it counted twice.
    pub requests: u64,
    /// Payloads in the stored batches.
    pub payloads: u64,
    /// Batches answered 200 but not stored, because their batch ID was already stored.
    pub duplicates: u64,
    /// Bodies refused: not JSON, not matching the schema, inconsistent, too large (400, 413, 415).
    pub rejected: u64,
    /// Requests refused for a missing or wrong token (401).
    pub unauthorized: u64,
    /// Ingest requests that got an injected fault.
    pub faults: u64,
    /// The sum of the stored batches' `batch_metadata.dropped_logs` (what the client says it dropped).
    pub dropped_logs: u64,
    /// Every ingest request received, whatever its answer.
    pub received: u64,
}

/// Why the sink could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The output file could not be opened for appending.
    Out {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The runtime or the server thread could not be started.
    Runtime(std::io::Error),
    /// The settings are inconsistent.
    Config(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Out { path, source } => {
                write!(f, "cannot open {} for appending: {source}", path.display())
            }
            Error::Runtime(source) => write!(f, "cannot start the sink's runtime: {source}"),
            Error::Config(reason) => write!(f, "invalid sink settings: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::Out { source, .. } | Error::Runtime(source) => {
                Some(source)
            }
            Error::Config(_) => None,
        }
    }
}

/// The local ingest sink.
#[derive(Debug)]
pub struct Sink;

impl Sink {
    /// Binds the listen address and starts serving on a thread of its own.
    ///
    /// Can be called from sync code or from inside a tokio runtime.
    pub fn start(config: SinkConfig) -> Result<SinkHandle, Error> {
        config.faults.validate().map_err(Error::Config)?;
        let validator = compile_schema().map_err(Error::Config)?;
        let in_place = compile_in_place_schema().map_err(Error::Config)?;
        let out = match &config.out {
            Some(path) => Some(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| Error::Out {
                        path: path.clone(),
                        source,
                    })?,
            ),
            None => None,
        };
        let rng = match config.faults.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let shared = Shared {
            token: config.token,
            quiet: config.quiet,
            max_body_bytes: config.max_body_bytes,
            keep_batches: config.keep_batches,
            faults: config.faults,
            validator,
            in_place,
            rng: Mutex::new(rng),
            inner: Mutex::new(Inner {
                out,
                seen: BatchIdWindow::new(config.dedup_window),
                ..Inner::default()
            }),
        };
        let served =
            server::Served::start(config.listen, "logiscout-sink", "/ingest", shared, serve)?;
        Ok(SinkHandle { served })
    }
}

/// A running sink; dropping it shuts it down (see [`SinkHandle::shutdown`]).
pub struct SinkHandle {
    served: server::Served<Shared>,
}

impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.served.debug(f, "SinkHandle")
    }
}

impl SinkHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The ingest URL, `http://ADDR/ingest`: the logger's endpoint.
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// The counters.
    pub fn stats(&self) -> SinkStats {
        self.served.stats()
    }

    /// The bytes of ingest request bodies read so far, as they came on the wire: compressed when sent
    /// with `Content-Encoding: gzip`, without HTTP headers. Every body read in full counts, whatever the
    /// answer (stored, duplicate or refused); a body refused for its size or never read (a fault) does not.
    /// Not part of `/stats`, whose fields are fixed.
    pub fn wire_bytes(&self) -> u64 {
        self.served.shared.lock().wire_bytes
    }

    /// How many batch IDs the dedup window holds now: never more than [`SinkConfig::dedup_window`].
    /// For tests of the sink's own memory bound.
    #[doc(hidden)]
    pub fn remembered_batch_ids(&self) -> usize {
        self.served.shared.lock().seen.len()
    }

    /// Every stored batch (the decoded bodies), in arrival order; empty when
    /// [`SinkConfig::keep_batches`] is off.
    pub fn batches(&self) -> Vec<Value> {
        self.served.shared.lock().batches.clone()
    }

    /// Every log entry of every stored batch, with its payload's correlation ID.
    pub fn logs(&self) -> Vec<(String, Value)> {
        let inner = self.served.shared.lock();
        let mut out = Vec::new();
        for batch in &inner.batches {
            for p in batch["payloads"].as_array().into_iter().flatten() {
                let id = p["correlationId"].as_str().unwrap_or_default();
                for l in p["logs"].as_array().into_iter().flatten() {
                    out.push((id.to_owned(), l.clone()));
                }
            }
        }
        out
    }

    /// Polls until `cond` holds for the counters, or `timeout`; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&SinkStats) -> bool) -> bool {
        self.served.wait_until(timeout, cond)
    }

    /// Stops accepting connections, lets open ones finish (up to one second), and returns the final
    /// counters. Blocks the calling thread until the server thread has ended.
    pub fn shutdown(self) -> SinkStats {
        self.served.shutdown()
    }
}

struct Shared {
    token: Option<String>,
    quiet: bool,
    max_body_bytes: usize,
    keep_batches: bool,
    faults: Faults,
    /// The schema for the `Value` path: the wording of refusals.
    validator: jsonschema::Validator,
    /// The same schema for bodies parsed in place: the verdict on most bodies.
    in_place: jsonschema::Validator<InPlace>,
    rng: Mutex<fastrand::Rng>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    stats: SinkStats,
    /// The most recent stored batch IDs (see [`SinkConfig::dedup_window`]).
    seen: BatchIdWindow,
    /// Stored batches, when [`SinkConfig::keep_batches`] is on.
    batches: Vec<Value>,
    out: Option<File>,
    /// Body bytes read on the wire (see [`SinkHandle::wire_bytes`]).
    wire_bytes: u64,
}

/// The last `capacity` batch IDs inserted, first in first out: a set to look them up, a queue for their
/// order. Both hold the same IDs, once each (only IDs not in the set are inserted), sharing one allocation
/// per ID.
#[derive(Debug, Default)]
struct BatchIdWindow {
    capacity: usize,
    ids: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
}

impl BatchIdWindow {
    fn new(capacity: usize) -> Self {
        // Not preallocated: a large window costs memory only as it fills.
        BatchIdWindow {
            capacity,
            ..BatchIdWindow::default()
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Remembers `id` (not already remembered), forgetting the oldest ID when the window is full.
    fn insert(&mut self, id: &str) {
        if self.capacity == 0 || self.ids.contains(id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.ids.insert(id.clone());
        self.order.push_back(id);
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

impl server::Counted for Shared {
    type Stats = SinkStats;

    fn stats(&self) -> SinkStats {
        self.lock().stats
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters inconsistent enough to matter.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn print(&self, line: std::fmt::Arguments<'_>) {
        if !self.quiet {
            // Not `println!`: a closed stdout must not panic the sink.
            let mut out = std::io::stdout().lock();
            let _ = out.write_fmt(line);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    }

    /// Decides whether this request is faulted, and how.
    fn roll_fault(&self) -> Option<Fault> {
        let faults = &self.faults;
        if !faults.any() {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rate) = faults.rate {
            if rng.f64() >= rate {
                return None;
            }
        }
        Some(if faults.hang {
            Fault::Hang
        } else if faults.close {
            Fault::Close
        } else if faults.statuses.is_empty() {
            Fault::Status(503)
        } else {
            Fault::Status(faults.statuses[rng.usize(..faults.statuses.len())])
        })
    }
}

enum Fault {
    Hang,
    Close,
    Status(u16),
}

fn compile_schema() -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(&schema_value()?)
        .map_err(|e| format!("the schema does not compile: {e}"))
}

/// The same schema, with the same (default) options, for bodies parsed in place.
fn compile_in_place_schema() -> Result<jsonschema::Validator<InPlace>, String> {
    jsonschema::options_for::<InPlace>()
        .build(&schema_value()?)
        .map_err(|e| format!("the schema does not compile: {e}"))
}

fn schema_value() -> Result<Value, String> {
    serde_json::from_str(SCHEMA).map_err(|e| format!("the schema is not JSON: {e}"))
}

/// The per-connection service's error: hyper closes the connection without answering.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by fault injection")
    }
}

impl std::error::Error for CloseConnection {}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let router = Router::new()
        .route("/ingest", post(ingest))
        .route("/", post(ingest))
        .route("/stats", get(stats))
        .with_state(shared.clone());
    let on_error = {
        let shared = shared.clone();
        move |e: &std::io::Error| shared.print(format_args!("accept failed: {e}"))
    };
    server::accept_loop(listener, stop, SHUTDOWN_GRACE, on_error, move || {
        let shared = shared.clone();
        let router = router.clone();
        hyper::service::service_fn(move |req| handle(shared.clone(), router.clone(), req))
    })
    .await;
}

/// Applies latency and faults to ingest requests, then hands the request to the router.
async fn handle(
    shared: Arc<Shared>,
    mut router: Router,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Response, CloseConnection> {
    if req.method() == Method::POST && matches!(req.uri().path(), "/ingest" | "/") {
        shared.lock().stats.received += 1;
        if !shared.faults.latency.is_zero() {
            tokio::time::sleep(shared.faults.latency).await;
        }
        if let Some(fault) = shared.roll_fault() {
            shared.lock().stats.faults += 1;
            match fault {
                Fault::Hang => {
                    shared.print(format_args!("fault: hanging, no answer"));
                    return std::future::pending().await;
                }
                Fault::Close => {
                    shared.print(format_args!("fault: connection closed, no answer"));
                    return Err(CloseConnection);
                }
                Fault::Status(status) => {
                    let retry_after = shared.faults.retry_after;
                    match retry_after {
                        Some(s) => {
                            shared.print(format_args!("fault: answered {status} (Retry-After {s})"))
                        }
                        None => shared.print(format_args!("fault: answered {status}")),
                    }
                    return Ok(fault_response(status, retry_after));
                }
            }
        }
    }
    let response = tower_service::Service::call(&mut router, req).await;
    Ok(response.unwrap_or_else(|e: Infallible| match e {}))
}

fn fault_response(status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = json_response(
        code,
        json!({ "error": format!("fault injected: {status}") }),
    );
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.lock().stats;
    // Serialized from the struct (not a `Value`), so the fields keep their documented order.
    let mut response = serde_json::to_string(&stats)
        .unwrap_or_default()
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A refused request: its status and the reason, answered as `{"error": reason}`.
struct Refusal(StatusCode, String);

async fn ingest(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    match accept(&shared, req).await {
        Ok(response) => response,
        Err(Refusal(status, reason)) => {
            {
                let mut inner = shared.lock();
                if status == StatusCode::UNAUTHORIZED {
                    inner.stats.unauthorized += 1;
                } else {
                    inner.stats.rejected += 1;
                }
            }
            shared.print(format_args!(
                "refused {}: {}",
                status.as_u16(),
                printable(&reason, 300)
            ));
            json_response(status, json!({ "error": reason }))
        }
    }
}

async fn accept(shared: &Shared, req: Request) -> Result<Response, Refusal> {
    let (parts, body) = req.into_parts();
    check_token(shared, &parts.headers)?;
    let wire = read_body(body, shared.max_body_bytes).await?;
    shared.lock().wire_bytes += wire.len() as u64;
    let decoded = decode(&parts.headers, &wire, shared.max_body_bytes)?;
    // The quick way: the body parsed in place, and valid. Any other body takes the `Value` path, which
    // words the refusal, and has the last word on a body the quick way finds invalid.
    let value: Value;
    let doc = match Doc::parse(&decoded) {
        Some(doc) if shared.in_place.is_valid(doc.root()) => doc,
        _ => {
            value = serde_json::from_slice(&decoded).map_err(|e| {
                Refusal(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid JSON: {e}"),
                )
            })?;
            check_schema(&shared.validator, &value)?;
            Doc::from_value(&value)
        }
    };
    let batch = doc.root();
    let counts = Counts::of(batch);
    check_consistency(batch, &counts)?;
    let batch_id = batch_id(&parts.headers, batch)?;
    store(shared, batch_id, batch, &counts)
}

fn check_token(shared: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = &shared.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(given) if constant_time_eq(given, token.as_bytes()) => Ok(()),
        Some(_) => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "the bearer token is wrong".to_owned(),
        )),
        None => Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "missing `Authorization: Bearer <token>`".to_owned(),
        )),
    }
}

/// Compares without stopping at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large(limit)),
        Err(e) => Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {e}"),
        )),
    }
}

fn too_large(limit: usize) -> Refusal {
    Refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {limit} bytes"),
    )
}

/// The body as JSON bytes: the wire bytes themselves (not copied) unless gzipped.
fn decode<'w>(headers: &HeaderMap, wire: &'w [u8], limit: usize) -> Result<Cow<'w, [u8]>, Refusal> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("<binary>").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") => Ok(Cow::Borrowed(wire)),
        Some("gzip") => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::GzDecoder::new(wire).take(limit as u64 + 1);
            decoder.read_to_end(&mut out).map_err(|e| {
                Refusal(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid gzip: {e}"),
                )
            })?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Cow::Owned(out))
        }
        Some(other) => Err(Refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Encoding `{}` (gzip or none)",
                printable(other, 40)
            ),
        )),
    }
}

fn check_schema(validator: &jsonschema::Validator, batch: &Value) -> Result<(), Refusal> {
    // The quick yes or no first: collecting errors walks the body building locations, even when valid.
    if validator.is_valid(batch) {
        return Ok(());
    }
    let mut reasons = Vec::new();
    let mut more = 0usize;
    for error in validator.iter_errors(batch) {
        if reasons.len() < MAX_REASONS {
            let at = error.instance_path().to_string();
            let at = if at.is_empty() { "/".to_owned() } else { at };
            reasons.push(format!("{} at {at}", printable(&error.to_string(), 200)));
        } else {
            more += 1;
        }
    }
    if reasons.is_empty() {
        return Ok(());
    }
    let mut reason = format!(
        "the body does not match the wire-format schema: {}",
        reasons.join("; ")
    );
    if more > 0 {
        reason.push_str(&format!("; and {more} more"));
    }
    Err(Refusal(StatusCode::BAD_REQUEST, reason))
}

/// What the schema cannot say: `batch_metadata`'s totals match the payloads.
fn check_consistency(batch: DocNode<'_>, counts: &Counts) -> Result<(), Refusal> {
    let Some(meta) = batch.get("batch_metadata") else {
        return Ok(());
    };
    let Counts { payloads, logs, .. } = *counts;
    let total_requests = meta.get("total_requests");
    let total_logs = meta.get("total_logs");
    let mut problems = Vec::new();
    if total_requests.and_then(|n| n.as_u64()) != Some(payloads) {
        problems.push(format!(
            "batch_metadata.total_requests is {} but the batch has {payloads} payloads",
            shown(total_requests)
        ));
    }
    if total_logs.and_then(|n| n.as_u64()) != Some(logs) {
        problems.push(format!(
            "batch_metadata.total_logs is {} but the batch has {logs} logs",
            shown(total_logs)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Refusal(StatusCode::BAD_REQUEST, problems.join("; ")))
    }
}

/// A member as JSON text, `null` when absent (as indexing a `Value` shows it).
fn shown(node: Option<DocNode<'_>>) -> Value {
    node.map_or(Value::Null, |n| n.value())
}

/// What the stats, the consistency check and the printed line count in a batch, in one pass.
struct Counts {
    payloads: u64,
    logs: u64,
    /// Payloads that carry request info.
    request_payloads: u64,
    /// Payloads that close their request.
    completed: u64,
}

impl Counts {
    fn of(batch: DocNode<'_>) -> Counts {
        let payloads = batch.get("payloads");
        let mut counts = Counts {
            payloads: payloads.and_then(|p| p.array_len()).unwrap_or(0) as u64,
            logs: 0,
            request_payloads: 0,
            completed: 0,
        };
        for p in payloads.iter().flat_map(DocNode::elements) {
            counts.logs += p.get("logs").and_then(|l| l.array_len()).unwrap_or(0) as u64;
            if p.get("request").is_some_and(|r| r.is_object()) {
                counts.request_payloads += 1;
                if ends_request(p) {
                    counts.completed += 1;
                }
            }
        }
        counts
    }
}

/// The batch ID: the header, else `batch_metadata.batch_id`; they must agree when both are there.
fn batch_id(headers: &HeaderMap, batch: DocNode<'_>) -> Result<Option<String>, Refusal> {
    let from_body = batch
        .get("batch_metadata")
        .and_then(|m| m.get("batch_id"))
        .and_then(|b| b.as_str());
    let from_header = match headers.get(BATCH_ID_HEADER) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(v) if !v.trim().is_empty() => Some(v.trim()),
            _ => {
                return Err(Refusal(
                    StatusCode::BAD_REQUEST,
                    "the X-LogiScout-Batch-Id header is empty or not text".to_owned(),
                ))
            }
        },
    };
    match (from_header, from_body) {
        (Some(h), Some(b)) if h != b => Err(Refusal(
            StatusCode::BAD_REQUEST,
            format!(
                "the X-LogiScout-Batch-Id header ({}) differs from batch_metadata.batch_id ({})",
                printable(h, 64),
                printable(b, 64)
            ),
        )),
        (Some(id), _) | (None, Some(id)) => Ok(Some(id.to_owned())),
        (None, None) => Ok(None),
    }
}

/// The distinct correlation IDs of a batch's payloads, in order: for the printed line only.
fn distinct_ids(batch: DocNode<'_>) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    let mut distinct: HashSet<&str> = HashSet::new();
    for p in batch.get("payloads").iter().flat_map(DocNode::elements) {
        let id = p
            .get("correlationId")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        if distinct.insert(id) {
            ids.push(id);
        }
    }
    ids
}

fn store(
    shared: &Shared,
    batch_id: Option<String>,
    batch: DocNode<'_>,
    counts: &Counts,
) -> Result<Response, Refusal> {
    let dropped = batch
        .get("batch_metadata")
        .and_then(|m| m.get("dropped_logs"))
        .and_then(|d| d.as_u64())
        .unwrap_or(0);
    let logs = counts.logs;
    // Only printed: not worked out when quiet.
    let shown_id = || batch_id.as_deref().map_or_else(|| "-".to_owned(), short_id);

    let mut inner = shared.lock();
    if let Some(id) = &batch_id {
        if inner.seen.contains(id) {
            inner.stats.duplicates += 1;
            let duplicates = inner.stats.duplicates;
            drop(inner);
            if !shared.quiet {
                shared.print(format_args!(
                    "batch {} duplicate, already stored: not counted again (duplicates so far: {duplicates})",
                    shown_id()
                ));
            }
            return Ok(json_response(
                StatusCode::OK,
                json!({ "status": "duplicate", "batch_id": id }),
            ));
        }
    }
    // The batch as a `Value`, built only when it is kept or written.
    let mut kept = (shared.keep_batches || inner.out.is_some()).then(|| batch.value());
    if let (Some(file), Some(batch)) = (inner.out.as_mut(), &kept) {
        let mut line = batch.to_string();
        line.push('\n');
        if let Err(e) = file.write_all(line.as_bytes()) {
            // Not stored: a 500 makes the client retry, the batch ID stays unseen.
            drop(inner);
            shared.print(format_args!("batch {} not stored: {e}", shown_id()));
            return Ok(json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": format!("could not store the batch: {e}") }),
            ));
        }
    }
    inner.stats.requests += counts.completed;
    inner.stats.batches += 1;
    inner.stats.payloads += counts.payloads;
    inner.stats.logs += logs;
    inner.stats.dropped_logs += dropped;
    if let Some(id) = &batch_id {
        inner.seen.insert(id);
    }
    let response = json_response(
        StatusCode::OK,
        json!({ "status": "accepted", "batch_id": batch_id, "logs": logs }),
    );
    if shared.keep_batches {
        if let Some(batch) = kept.take() {
            inner.batches.push(batch);
        }
    }
    drop(inner);
    if !shared.quiet {
        shared.print(format_args!(
            "batch {} {}, {}, ids [{}], dropped {dropped}",
            shown_id(),
            plural(counts.request_payloads, "request"),
            plural(logs, "log"),
            id_list(&distinct_ids(batch))
        ));
    }
    Ok(response)
}

/// Whether a payload (with a `request` object) is its request's last piece: it carries the end.
fn ends_request(payload: DocNode<'_>) -> bool {
    let not_null = |node: Option<DocNode<'_>>| node.is_some_and(|n| !n.is_null());
    not_null(payload.get("endedAt"))
        || not_null(payload.get("request").and_then(|r| r.get("statusCode")))
}

/// [`ends_request`] on a `Value`.
#[cfg(test)]
fn closes_request(payload: &Value) -> bool {
    ends_request(Doc::from_value(payload).root())
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The first three IDs, then how many more.
fn id_list(ids: &[&str]) -> String {
    let mut shown: Vec<String> = ids.iter().take(3).map(|id| printable(id, 40)).collect();
    if ids.len() > 3 {
        shown.push(format!("… +{}", ids.len() - 3));
    }
    shown.join(", ")
}

fn short_id(id: &str) -> String {
    if id.chars().count() > 8 {
        format!("{}…", printable(&id.chars().take(8).collect::<String>(), 8))
    } else {
        printable(id, 8)
    }
}

/// Untrusted text made safe for one terminal line: control characters escaped, cut at `max` characters.
fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_compiles() {
        assert!(compile_schema().is_ok());
    }

    #[test]
    fn faults_are_validated() {
        assert!(Faults::default().validate().is_ok());
        let bad_rate = Faults {
            rate: Some(1.5),
            ..Faults::default()
        };
        assert!(bad_rate.validate().is_err());
        let bad_status = Faults {
            statuses: vec![99],
            ..Faults::default()
        };
        assert!(bad_status.validate().is_err());
        let both = Faults {
            hang: true,
            close: true,
            ..Faults::default()
        };
        assert!(both.validate().is_err());
        let lone_retry_after = Faults {
            retry_after: Some(2),
            ..Faults::default()
        };
        assert!(lone_retry_after.validate().is_err());
        let ok = Faults {
            statuses: vec![503],
            retry_after: Some(2),
            ..Faults::default()
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\nb\u{1b}[31m", 100), "a\\nb\\u{1b}[31m");
        assert_eq!(printable("abcdef", 3), "abc…");
        assert_eq!(short_id("6f1c0a2e-1111"), "6f1c0a2e…");
        assert_eq!(id_list(&["a", "b", "c", "d", "e"]), "a, b, c, … +2");
    }

    #[test]
    fn the_batch_id_window_is_fifo_and_bounded() {
        let mut window = BatchIdWindow::new(3);
        for id in ["a", "b", "c"] {
            window.insert(id);
        }
        assert!(window.contains("a") && window.contains("c"));
        // Already there: not inserted again, and not refreshed.
        window.insert("a");
        assert_eq!((window.len(), window.order.len()), (3, 3));
        window.insert("d");
        assert!(!window.contains("a"), "the oldest is forgotten");
        assert!(window.contains("b") && window.contains("d"));
        for i in 0..1000 {
            window.insert(&format!("id-{i}"));
            assert!(window.len() <= 3 && window.order.len() == window.len());
        }
        assert!(window.contains("id-999") && !window.contains("id-996"));

        let mut off = BatchIdWindow::new(0);
        off.insert("a");
        assert!(!off.contains("a"));
        assert_eq!(off.len(), 0);
    }

    #[test]
    fn a_payload_closes_its_request_when_it_carries_the_end() {
        let open = json!({ "endedAt": null, "request": { "method": "GET", "path": "/" } });
        let ended = json!({ "endedAt": "2026-11-25T11:42:47.638316Z",
                            "request": { "method": "GET", "path": "/" } });
        let with_status = json!({ "request": { "method": "GET", "path": "/", "statusCode": 204 } });
        assert!(!closes_request(&open));
        assert!(closes_request(&ended));
        assert!(closes_request(&with_status));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"lgs_dev", b"lgs_dev"));
        assert!(!constant_time_eq(b"lgs_dev", b"lgs_dex"));
        assert!(!constant_time_eq(b"lgs_dev", b"lgs_de"));
    }
}
