//! Test helpers for logiscout's own tests (not published).
//!
//! [`IngestServer`] is a real HTTP server on 127.0.0.1 that plays the ingest endpoint: it records every
//! request (headers, decoded body, time), answers from a script of [`Reply`]s, can be stopped and started
//! again on the same port, and checks every body against the wire format's JSON Schema.
#![forbid(unsafe_code)]

pub mod profile;
pub mod scenarios;

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// The wire format's JSON Schema (a copy of `shared/design/wire-format.schema.json`).
pub const SCHEMA: &str = include_str!("wire-format.schema.json");

/// Checks a request body against the wire format's schema.
pub fn validate(body: &serde_json::Value) -> Result<(), String> {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
        jsonschema::validator_for(&schema).expect("schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The certificate [`bad_certificate_endpoint`] presents (PEM). A client that trusts it as a certificate
/// authority still refuses it for `127.0.0.1`: it names `wrong.example` only.
pub const BAD_CERTIFICATE_PEM: &[u8] = include_bytes!("tls/self-signed.cert.pem");

/// A listener on 127.0.0.1 that plays a proxy: records the first line of every connection (`CONNECT
/// host:port …` or `POST http://… HTTP/1.1`), then closes it. Returns its `http://` URL and the lines.
pub fn fake_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::BufRead as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            let _ = std::io::BufReader::new(&stream).read_line(&mut line);
            if let Ok(mut lines) = record.lock() {
                lines.push(line.trim_end().to_owned());
            }
        }
    });
    (format!("http://{addr}"), seen)
}

/// A TLS endpoint on 127.0.0.1 whose certificate is self-signed and names another host
/// (`wrong.example`): every client that checks certificates refuses it during the handshake. It never
/// gets to HTTP. Returns its `https://127.0.0.1:PORT/ingest` URL and a count of handshakes attempted.
pub fn bad_certificate_endpoint() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        vec![CertificateDer::from_pem_slice(BAD_CERTIFICATE_PEM).expect("fixture certificate")];
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("tls/self-signed.key.pem"))
        .expect("fixture key");
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = handshakes.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = [0u8; 1024];
                // Drives the handshake; the client aborts it.
                let _ = std::io::Read::read(&mut tls, &mut buf);
            });
        }
    });
    (format!("https://{addr}/ingest"), handshakes)
}

/// A writer that keeps what is written (console output, diagnostic lines), shared by its clones.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// How the server answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// A `Retry-After` header value.
    pub retry_after: Option<String>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
    /// Extra bytes of response body.
    pub body_len: usize,
    /// Extra response headers (e.g. `Location` for a redirect).
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// Answers with `status` at once.
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            retry_after: None,
            delay: Duration::ZERO,
            hang: false,
            body_len: 0,
            headers: Vec::new(),
        }
    }
    /// 200 OK.
    pub fn ok() -> Self {
        Reply::status(200)
    }
    /// Adds `Retry-After: value`.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
    /// Waits `delay` first.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Never answers.
    pub fn hang() -> Self {
        Reply {
            hang: true,
            ..Reply::ok()
        }
    }
    /// Sends `len` bytes of body.
    pub fn body_len(mut self, len: usize) -> Self {
        self.body_len = len;
        self
    }
    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, decoded (gunzipped when `Content-Encoding: gzip`) and parsed.
    pub body: serde_json::Value,
    /// Bytes on the wire.
    pub wire_len: usize,
    /// When it arrived.
    pub at: Instant,
    /// The status the server answered (or would have, when it hung).
    pub status: u16,
    /// Schema violations, if any.
    pub schema_error: Option<String>,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every log entry in the body, with its payload's correlation ID.
    pub fn logs(&self) -> Vec<(String, serde_json::Value)> {
        let mut out = Vec::new();
        for p in self.body["payloads"].as_array().into_iter().flatten() {
            let id = p["correlationId"].as_str().unwrap_or_default().to_owned();
            for l in p["logs"].as_array().into_iter().flatten() {
                out.push((id.clone(), l.clone()));
            }
        }
        out
    }

    /// Whether the server accepted it (2xx).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    /// Benchmark mode: answer 200 and only count.
    discard: bool,
    discarded: (u64, u64),
    discard_latency: Duration,
    /// Requests being answered now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
}

type Shared = Arc<Mutex<Inner>>;

/// A scriptable ingest endpoint on 127.0.0.1.
pub struct IngestServer {
    addr: SocketAddr,
    state: Shared,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl std::fmt::Debug for IngestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl IngestServer {
    /// Starts a server on a free loopback port, answering 200 to everything.
    pub fn start() -> Self {
        let state: Shared = Arc::default();
        let (runtime, addr) = serve(state.clone(), "127.0.0.1:0".parse().unwrap());
        IngestServer {
            addr,
            state,
            runtime: Mutex::new(Some(runtime)),
        }
    }

    /// A server for benchmarks: answers 200 at once and only counts requests and bytes (no parsing, no
    /// schema check), so it takes as little CPU from the code under test as it can.
    pub fn start_discarding() -> Self {
        let server = IngestServer::start();
        server.state.lock().unwrap().discard = true;
        server
    }

    /// In discarding mode: wait this long before each answer (a distant ingest endpoint).
    pub fn set_discard_latency(&self, latency: Duration) {
        self.state.lock().unwrap().discard_latency = latency;
    }

    /// In discarding mode: (requests, body bytes) received.
    pub fn discarded(&self) -> (u64, u64) {
        self.state.lock().unwrap().discarded
    }

    /// The ingest URL, `http://127.0.0.1:PORT/ingest`.
    pub fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next request with `reply` (replies queue up in order).
    pub fn reply_next(&self, reply: Reply) {
        self.state.lock().unwrap().script.push_back(reply);
    }

    /// Answers requests with `reply` once the script is used up.
    pub fn reply_always(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(Received::accepted)
            .collect()
    }

    /// Every log entry of every accepted request, with its correlation ID.
    pub fn accepted_logs(&self) -> Vec<(String, serde_json::Value)> {
        self.accepted().iter().flat_map(Received::logs).collect()
    }

    /// Polls until `cond` holds for what was received, or `timeout`; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&[Received]) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.state.lock().unwrap().received) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The most requests this server was answering at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// Stops listening and closes every connection (the endpoint goes down).
    pub fn stop(&self) {
        if let Some(rt) = self.runtime.lock().unwrap().take() {
            rt.shutdown_background();
        }
    }

    /// Listens again on the same port.
    pub fn restart(&self) {
        let mut slot = self.runtime.lock().unwrap();
        if slot.is_none() {
            let (rt, _) = serve(self.state.clone(), self.addr);
            *slot = Some(rt);
        }
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(state: Shared, addr: SocketAddr) -> (tokio::runtime::Runtime, SocketAddr) {
    // Built on a thread of its own, so a server can be started from inside another runtime too.
    std::thread::spawn(move || serve_here(state, addr))
        .join()
        .expect("server thread")
}

fn serve_here(state: Shared, addr: SocketAddr) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        // The server's own tracing events (hyper's) are not the code under test's: they go nowhere.
        .on_thread_start(|| {
            std::mem::forget(tracing_core::dispatcher::set_default(
                &tracing_core::Dispatch::none(),
            ))
        })
        .build()
        .expect("test runtime");
    // The port may linger briefly after a stop: retry the bind for a moment.
    let listener = rt.block_on(async {
        let mut tries = 0;
        loop {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(e) if tries < 200 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        }
    });
    let local = listener.local_addr().expect("local addr");
    let app = Router::new()
        .route("/ingest", post(ingest))
        .with_state(state);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (rt, local)
}

async fn ingest(AxumState(state): AxumState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let discard_latency = {
        let mut inner = state.lock().unwrap();
        if inner.discard {
            inner.discarded.0 += 1;
            inner.discarded.1 += body.len() as u64;
            Some(inner.discard_latency)
        } else {
            None
        }
    };
    if let Some(latency) = discard_latency {
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        return StatusCode::OK.into_response();
    }
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let decoded = if gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => Vec::new(),
        }
    } else {
        body.to_vec()
    };
    let json: serde_json::Value =
        serde_json::from_slice(&decoded).unwrap_or(serde_json::Value::Null);
    let schema_error = validate(&json).err();
    let reply = {
        let mut inner = state.lock().unwrap();
        let reply = inner
            .script
            .pop_front()
            .or_else(|| inner.default.clone())
            .unwrap_or_else(Reply::ok);
        inner.received.push(Received {
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        v.to_str().unwrap_or("<binary>").to_owned(),
                    )
                })
                .collect(),
            body: json,
            wire_len: body.len(),
            at: Instant::now(),
            status: reply.status,
            schema_error,
        });
        inner.in_flight += 1;
        inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
        reply
    };
    // Counts this request as answered when the handler ends, however it ends (a hang is dropped when
    // the client gives up).
    struct Answered(Shared);
    impl Drop for Answered {
        fn drop(&mut self) {
            if let Ok(mut inner) = self.0.lock() {
                inner.in_flight = inner.in_flight.saturating_sub(1);
            }
        }
    }
    let _answered = Answered(state.clone());
    if reply.hang {
        std::future::pending::<()>().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, "x".repeat(reply.body_len)).into_response();
    if let Some(ra) = reply.retry_after {
        if let Ok(v) = ra.parse() {
            response.headers_mut().insert("retry-after", v);
        }
    }
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name.as_str()),
            axum::http::HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
