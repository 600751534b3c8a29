//! The sink's OTLP mode (feature `otlp`, `logiscout-sink --otlp`): an OTLP/HTTP logs receiver on
//! `POST /v1/logs` that decodes protobuf (`application/x-protobuf`) and OTLP/JSON (`application/json`)
//! bodies, plain or gzip, with the official generated types of `opentelemetry-proto` (never structs of
//! ours), prints one line per batch and answers `GET /stats`.
//!
//! ```
//! use logiscout_sink::otlp::{OtlpSink, OtlpSinkConfig};
//!
//! let sink = OtlpSink::start(OtlpSinkConfig::default())?;
//! println!("point an OTLP exporter at {}", sink.url()); // http://127.0.0.1:PORT/v1/logs
//! # Ok::<(), logiscout_sink::Error>(())
//! ```

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
/// The official generated OTLP types the sink decodes with, for checking what arrived.
pub use opentelemetry_proto;
pub use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message as _;
use serde::Serialize;

use crate::Error;

/// How the OTLP sink runs.
#[derive(Debug, Clone)]
pub struct OtlpSinkConfig {
    /// Address to listen on (port 0 picks a free one; the default is `127.0.0.1:0`).
    pub listen: SocketAddr,
    /// Require `Authorization: Bearer TOKEN` (401 otherwise). Never printed.
    pub token: Option<String>,
    /// Print no line per batch.
    pub quiet: bool,
    /// Refuse bodies larger than this (413), on the wire or after gunzip.
    pub max_body_bytes: usize,
    /// Keep every decoded request for [`OtlpSinkHandle::requests`] (tests, examples). Off for a
    /// long-running process: memory then stays flat.
    pub keep_requests: bool,
}

impl Default for OtlpSinkConfig {
    fn default() -> Self {
        OtlpSinkConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            quiet: false,
            max_body_bytes: crate::DEFAULT_MAX_BODY_BYTES,
            keep_requests: true,
        }
    }
}

/// The OTLP sink's counters, as `GET /stats` answers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct OtlpSinkStats {
    /// Export requests decoded and accepted.
    pub batches: u64,
    /// Log records in them.
    pub logs: u64,
    /// Of those, sent as protobuf.
    pub protobuf: u64,
    /// Of those, sent as OTLP/JSON.
    pub json: u64,
    /// Bodies refused: undecodable (400), too large (413), unknown content type or encoding (415).
    pub rejected: u64,
    /// Requests refused for a missing or wrong token (401).
    pub unauthorized: u64,
}

/// Starts the OTLP receiver.
#[derive(Debug)]
pub struct OtlpSink;

struct Shared {
    token: Option<String>,
    quiet: bool,
    max_body_bytes: usize,
    keep: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    stats: OtlpSinkStats,
    requests: Vec<ExportLogsServiceRequest>,
}

impl crate::server::Counted for Shared {
    type Stats = OtlpSinkStats;

    fn stats(&self) -> OtlpSinkStats {
        self.lock().stats
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl OtlpSink {
    /// Binds the listen address and serves on a thread of its own (from sync code or inside a runtime).
    pub fn start(config: OtlpSinkConfig) -> Result<OtlpSinkHandle, Error> {
        let shared = Shared {
            token: config.token,
            quiet: config.quiet,
            max_body_bytes: config.max_body_bytes,
            keep: config.keep_requests,
            inner: Mutex::default(),
        };
        let served = crate::server::Served::start(
            config.listen,
            "logiscout-sink-otlp",
            "/v1/logs",
            shared,
            serve,
        )?;
        Ok(OtlpSinkHandle { served })
    }
}

/// A running OTLP sink; dropping it shuts it down.
pub struct OtlpSinkHandle {
    served: crate::server::Served<Shared>,
}

impl std::fmt::Debug for OtlpSinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.served.debug(f, "OtlpSinkHandle")
    }
}

impl OtlpSinkHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// The logs URL, `http://ADDR/v1/logs`: the exporter's endpoint.
    pub fn url(&self) -> String {
        self.served.url()
    }

    /// The counters now.
    pub fn stats(&self) -> OtlpSinkStats {
        self.served.stats()
    }

    /// Every accepted export request, decoded (empty unless `keep_requests`).
    pub fn requests(&self) -> Vec<ExportLogsServiceRequest> {
        self.served.shared.lock().requests.clone()
    }

    /// Waits until `cond` holds for the counters, at most `timeout`; whether it did.
    pub fn wait_until(&self, timeout: Duration, cond: impl Fn(&OtlpSinkStats) -> bool) -> bool {
        self.served.wait_until(timeout, cond)
    }

    /// Stops serving and returns the final counters.
    pub fn shutdown(self) -> OtlpSinkStats {
        self.served.shutdown()
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let router = Router::new()
        .route("/v1/logs", post(logs))
        .route("/stats", get(stats))
        .layer(DefaultBodyLimit::max(shared.max_body_bytes))
        .with_state(shared.clone());
    crate::server::accept_loop(
        listener,
        stop,
        Duration::from_secs(1),
        |_| {},
        move || {
            let router = router.clone();
            hyper::service::service_fn(move |req| {
                let mut router = router.clone();
                async move {
                    let response = tower_service::Service::call(&mut router, req).await;
                    Ok::<_, Infallible>(response.unwrap_or_else(|e: Infallible| match e {}))
                }
            })
        },
    )
    .await;
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.lock().stats;
    let mut response = serde_json::to_string(&stats)
        .unwrap_or_default()
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn refuse(shared: &Shared, status: StatusCode, reason: String) -> Response {
    shared.lock().stats.rejected += 1;
    if !shared.quiet {
        println!("otlp: refused ({status}): {reason}");
    }
    (status, reason).into_response()
}

/// The body as sent, or gunzipped (within `max_body_bytes`); else why it is refused.
fn gunzipped(
    max_body_bytes: usize,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Vec<u8>, (StatusCode, String)> {
    let body = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => {
            let mut out = Vec::new();
            let read = flate2::read::GzDecoder::new(&body[..])
                .take(max_body_bytes as u64 + 1)
                .read_to_end(&mut out);
            match read {
                Ok(_) if out.len() <= max_body_bytes => out,
                Ok(_) => {
                    return Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too large after gunzip".into(),
                    ))
                }
                Err(e) => return Err((StatusCode::BAD_REQUEST, format!("gzip: {e}"))),
            }
        }
        Some(other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unknown Content-Encoding {other}"),
            ))
        }
    };
    Ok(body)
}

async fn logs(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(token) = &shared.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            shared.lock().stats.unauthorized += 1;
            return (StatusCode::UNAUTHORIZED, "missing or wrong token").into_response();
        }
    }
    let body = match gunzipped(shared.max_body_bytes, &headers, body) {
        Ok(body) => body,
        Err((status, reason)) => return refuse(&shared, status, reason),
    };
    let format = match Format::of_headers(&headers) {
        Ok(f) => f,
        Err(content_type) => {
            return refuse(
                &shared,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {content_type:?}: expected application/x-protobuf or \
                     application/json"
                ),
            )
        }
    };
    let request = match format.decode(&body) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                &shared,
                StatusCode::BAD_REQUEST,
                format!("undecodable: {e}"),
            )
        }
    };
    let json = format == Format::Json;
    let line = describe(&request, json);
    let count = record_count(&request);
    {
        let mut inner = shared.lock();
        inner.stats.batches += 1;
        inner.stats.logs += count as u64;
        if json {
            inner.stats.json += 1;
        } else {
            inner.stats.protobuf += 1;
        }
        if shared.keep {
            inner.requests.push(request);
        }
    }
    if !shared.quiet {
        println!("{line}");
    }
    format.success_response()
}

/// How an OTLP/HTTP export request body is encoded, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`: OTLP/JSON.
    Json,
}

impl Format {
    /// The format a request's `Content-Type` names (parameters such as `; charset=utf-8` allowed); for
    /// any other type, or none, that type (empty for none), to say why the body is refused.
    pub fn of_headers(headers: &HeaderMap) -> Result<Format, String> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if content_type.starts_with("application/x-protobuf") {
            Ok(Format::Protobuf)
        } else if content_type.starts_with("application/json") {
            Ok(Format::Json)
        } else {
            Err(content_type.to_owned())
        }
    }

    /// Decodes a whole (uncompressed) export request with the official types: prost for protobuf,
    /// their serde derive for OTLP/JSON, as a collector does.
    pub fn decode(self, body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
        match self {
            Format::Json => serde_json::from_slice(body).map_err(|e| e.to_string()),
            Format::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| e.to_string()),
        }
    }

    /// The answer to an accepted request: 200 with an empty `ExportLogsServiceResponse` (full success)
    /// in this format (`{}` in OTLP/JSON), and its `Content-Type`.
    pub fn success_response(self) -> Response {
        let (content_type, body) = match self {
            Format::Json => ("application/json", b"{}".to_vec()),
            Format::Protobuf => (
                "application/x-protobuf",
                ExportLogsServiceResponse::default().encode_to_vec(),
            ),
        };
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    }
}

/// Log records in an export request.
pub fn record_count(request: &ExportLogsServiceRequest) -> usize {
    request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}

/// One line per batch: encoding, service, record count, scopes, and the first record's severity and body.
fn describe(request: &ExportLogsServiceRequest, json: bool) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let service = request
        .resource_logs
        .iter()
        .filter_map(|r| r.resource.as_ref())
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_else(|| "?".into());
    let scopes: Vec<&str> = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .filter_map(|s| s.scope.as_ref().map(|s| s.name.as_str()))
        .collect();
    let first = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .next()
        .map(|r| {
            let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            format!(" first: {} {body:?}", r.severity_text)
        })
        .unwrap_or_default();
    format!(
        "otlp batch ({}): service={service} logs={} scopes={scopes:?}{first}",
        if json { "json" } else { "protobuf" },
        record_count(request)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    fn request(n: usize) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app".into(),
                        ..Default::default()
                    }),
                    log_records: (0..n)
                        .map(|i| LogRecord {
                            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
                            severity_number: 9,
                            severity_text: "INFO".into(),
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(format!("m{i}"))),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn decodes_protobuf_and_json_and_refuses_the_rest() {
        let sink = OtlpSink::start(OtlpSinkConfig {
            quiet: true,
            token: Some("t".into()),
            ..OtlpSinkConfig::default()
        })
        .unwrap();
        let client = reqwest::Client::new();
        let post = |ct: &'static str, body: Vec<u8>, token: &'static str| {
            client
                .post(sink.url())
                .header("content-type", ct)
                .header("authorization", format!("Bearer {token}"))
                .body(body)
                .send()
        };
        let proto = post("application/x-protobuf", request(3).encode_to_vec(), "t")
            .await
            .unwrap();
        assert_eq!(proto.status(), 200);
        let answer = ExportLogsServiceResponse::decode(proto.bytes().await.unwrap()).unwrap();
        assert_eq!(answer.partial_success, None);
        let json = post(
            "application/json",
            serde_json::to_vec(&request(2)).unwrap(),
            "t",
        )
        .await
        .unwrap();
        assert_eq!(json.status(), 200);
        let bad = post("application/x-protobuf", b"\xff\xff\xff".to_vec(), "t")
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        let text = post("text/plain", b"hi".to_vec(), "t").await.unwrap();
        assert_eq!(text.status(), 415);
        let unauthorized = post("application/json", b"{}".to_vec(), "x").await.unwrap();
        assert_eq!(unauthorized.status(), 401);
        let stats = client
            .get(format!("http://{}/stats", sink.addr()))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
        assert_eq!(stats["batches"], 2);
        assert_eq!(stats["logs"], 5);
        assert_eq!(stats["protobuf"], 1);
        assert_eq!(stats["json"], 1);
        assert_eq!(stats["rejected"], 2);
        assert_eq!(stats["unauthorized"], 1);
        assert_eq!(sink.requests(), vec![request(3), request(2)]);
    }
}
