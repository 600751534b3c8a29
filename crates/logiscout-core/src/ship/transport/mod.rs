//! Sending one encoded batch: the [`Transport`] trait, the HTTP implementation (auth, gzip, status handling)
//! and the retry policy (exponential backoff with full jitter, `Retry-After`). For tests, `memory` has an
//! in-memory implementation that records the batches and answers from a script.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::config::ApiToken;
use crate::protocol::Protocol;

#[cfg(test)]
pub(crate) mod memory;

/// How the client reaches the ingest endpoint.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Direct,
    /// Through this proxy (its URL may carry credentials: never shown).
    Proxy(url::Url),
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("Direct"),
            Route::Proxy(url) => f.debug_tuple("Proxy").field(&redacted(url)).finish(),
        }
    }
}

/// A URL with its user name and password replaced, for `Debug` and messages.
pub(crate) fn redacted(url: &url::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://[redacted]@{host}:{port}{}", url.scheme(), url.path()),
        None => format!("{}://[redacted]@{host}{}", url.scheme(), url.path()),
    }
}

/// What `Config::proxy` / `Config::no_proxy` said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum ProxySetting {
    /// The environment decides (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`), for https endpoints only.
    #[default]
    Environment,
    /// Never a proxy.
    Off,
    /// This proxy, for any endpoint but loopback.
    Explicit(url::Url),
}

/// Decides the route to `endpoint`, after curl's and Go's rules, stricter where the token is at stake:
/// - a loopback endpoint is never proxied (Go's `net/http` does not proxy loopback either);
/// - with `Config::no_proxy()`, nothing is;
/// - with `Config::proxy(url)`, everything else goes through that proxy;
/// - otherwise an `https://` endpoint honours `HTTPS_PROXY`, then `ALL_PROXY` (lower case too), unless
///   `NO_PROXY` names its host; a plain `http://` endpoint ignores the environment (its token and logs
///   would cross the proxy in clear text: set the proxy explicitly if that is wanted).
pub(crate) fn route(
    endpoint: &url::Url,
    setting: &ProxySetting,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Route, String> {
    let host = endpoint.host_str().unwrap_or_default();
    if crate::config::is_loopback(host) {
        return Ok(Route::Direct);
    }
    match setting {
        ProxySetting::Off => Ok(Route::Direct),
        ProxySetting::Explicit(url) => Ok(Route::Proxy(url.clone())),
        ProxySetting::Environment if endpoint.scheme() != "https" => Ok(Route::Direct),
        ProxySetting::Environment => {
            let var = |name: &str| {
                env(name)
                    .or_else(|| env(&name.to_ascii_lowercase()))
                    .filter(|v| !v.trim().is_empty())
            };
            let Some(proxy) = var("HTTPS_PROXY").or_else(|| var("ALL_PROXY")) else {
                return Ok(Route::Direct);
            };
            if var("NO_PROXY").is_some_and(|list| no_proxy_matches(&list, host)) {
                return Ok(Route::Direct);
            }
            // A bare `host:port`, as many set it, means http://host:port.
            let proxy = if proxy.contains("://") {
                proxy
            } else {
                format!("http://{proxy}")
            };
            url::Url::parse(proxy.trim())
                .map(Route::Proxy)
                .map_err(|_| "HTTPS_PROXY or ALL_PROXY is not a URL".to_owned())
        }
    }
}

/// Whether a `NO_PROXY` list names `host`: `*` names every host; an entry names the host itself and,
/// as a domain (with or without a leading dot), its subdomains; a port in an entry is ignored. IP
/// addresses match exactly (no CIDR ranges).
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = match entry.rsplit_once(':') {
            // `host:port`, but not a bare IPv6 address.
            Some((name, port))
                if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) =>
            {
                name
            }
            _ => entry,
        };
        let entry = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_start_matches('.')
            .to_ascii_lowercase();
        !entry.is_empty()
            && (host == entry
                || (host.len() > entry.len()
                    && host.ends_with(&entry)
                    && host.as_bytes()[host.len() - entry.len() - 1] == b'.'))
    })
}

/// A batch ready to send: its idempotency key and its JSON body.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    pub id: String,
    pub body: bytes::Bytes,
    pub logs: usize,
    /// Set by the transport when a `2xx` status arrives, before any of the body is read.
    pub acknowledged: Acknowledgement,
}

/// Whether the endpoint answered a batch with a `2xx` status. OTLP reads the body after it (for
/// `partial_success`); a delivery cut short meanwhile (at the shutdown deadline) settles the batch as
/// sent, since the endpoint already accepted it.
#[derive(Debug, Default)]
pub(crate) struct Acknowledgement(std::sync::atomic::AtomicBool);

impl Acknowledgement {
    pub(crate) fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Clone for Acknowledgement {
    fn clone(&self) -> Self {
        Acknowledgement(std::sync::atomic::AtomicBool::new(self.is_set()))
    }
}

/// Why one attempt failed, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// Try again later (408, 429, 5xx, connection errors, timeouts).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// 413: split the batch and send the halves.
    TooLarge,
    /// Other 4xx: retrying cannot help.
    Rejected { status: u16, reason: String },
    /// OTLP: accepted with `partial_success`: `rejected` of the batch's records were refused (not to be
    /// retried), the rest stored; `message` is the server's `errorMessage`.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    PartlyRejected { rejected: u64, message: String },
}

pub(crate) type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Something that can deliver one batch.
pub(crate) trait Transport: Send + Sync + 'static {
    fn send<'a>(&'a self, batch: &'a EncodedBatch) -> SendFuture<'a>;

    /// The wire protocol bodies for this transport are encoded in.
    fn protocol(&self) -> Protocol {
        Protocol::LogiScout
    }
}

/// The response body is never read past this many bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// POSTs batches with reqwest (rustls, keep-alive, per-request timeout).
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    endpoint: url::Url,
    /// `Authorization: Bearer …`; optional with OTLP.
    auth: Option<reqwest::header::HeaderValue>,
    gzip: bool,
    protocol: Protocol,
    /// `Config::header`s, values marked sensitive.
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("endpoint", &self.endpoint.as_str())
            .field("auth", &self.auth.as_ref().map(|_| "Bearer [redacted]"))
            .field("gzip", &self.gzip)
            .field("protocol", &self.protocol)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HttpTransport {
    /// A transport that connects directly (no proxy).
    #[cfg(test)]
    pub(crate) fn new(
        endpoint: url::Url,
        token: &ApiToken,
        timeout: Duration,
        gzip: bool,
    ) -> Result<Self, String> {
        Self::with_route(endpoint, token, timeout, gzip, &Route::Direct)
    }

    /// A transport that reaches `endpoint` by `route`. Redirects are never followed: a 3xx is a failed
    /// delivery (a redirect to a login page would swallow the logs; one to another origin would send
    /// them, and the token, elsewhere).
    #[cfg(test)]
    pub(crate) fn with_route(
        endpoint: url::Url,
        token: &ApiToken,
        timeout: Duration,
        gzip: bool,
        route: &Route,
    ) -> Result<Self, String> {
        Self::with_options(
            endpoint,
            Some(token),
            timeout,
            gzip,
            route,
            Protocol::LogiScout,
            Vec::new(),
        )
    }

    /// [`with_route`](Self::with_route) with the wire protocol, an optional token (OTLP) and extra
    /// headers.
    pub(crate) fn with_options(
        endpoint: url::Url,
        token: Option<&ApiToken>,
        timeout: Duration,
        gzip: bool,
        route: &Route,
        protocol: Protocol,
        headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    ) -> Result<Self, String> {
        let auth = match token {
            Some(token) => {
                let mut auth =
                    reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.0))
                        .map_err(|_| {
                            "the API token contains characters not allowed in a header".to_owned()
                        })?;
                auth.set_sensitive(true);
                Some(auth)
            }
            None => None,
        };
        let client = client_builder(timeout, route)?
            .build()
            .map_err(|e| format!("could not build the HTTP client: {e}"))?;
        Ok(HttpTransport {
            client,
            endpoint,
            auth,
            gzip,
            protocol,
            headers,
        })
    }

    /// [`with_route`](Self::with_route) (direct) with `pem` trusted as a certificate authority besides
    /// the usual roots: for tests of the certificate checks that are not about the issuer.
    #[cfg(test)]
    pub(crate) fn trusting(
        endpoint: url::Url,
        token: &ApiToken,
        timeout: Duration,
        pem: &[u8],
    ) -> Result<Self, String> {
        let mut transport = Self::new(endpoint, token, timeout, false)?;
        let root = reqwest::Certificate::from_pem(pem).map_err(|e| e.to_string())?;
        transport.client = client_builder(timeout, &Route::Direct)?
            .add_root_certificate(root)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(transport)
    }

    async fn send_once(&self, batch: &EncodedBatch) -> Result<(), SendError> {
        let content_type = match self.protocol {
            Protocol::Otlp => "application/x-protobuf",
            _ => "application/json",
        };
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type);
        if let Some(auth) = &self.auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth.clone());
        }
        for (name, value) in &self.headers {
            request = request.header(name.clone(), value.clone());
        }
        // OTLP has no idempotency key: a retry after a lost response may store a batch twice.
        if self.protocol == Protocol::LogiScout {
            request = request.header("X-LogiScout-Batch-Id", batch.id.as_str());
        }
        request = if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(batch.body.len() / 4),
                flate2::Compression::fast(),
            );
            let compressed = enc.write_all(&batch.body).and_then(|()| enc.finish());
            match compressed {
                Ok(body) => request
                    .header(reqwest::header::CONTENT_ENCODING, "gzip")
                    .body(body),
                Err(_) => request.body(batch.body.clone()),
            }
        } else {
            request.body(batch.body.clone())
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return Err(SendError::Retry {
                    reason: describe_reqwest_error(&e),
                    retry_after: None,
                })
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| redirect_origin(&self.endpoint, v));
        if (200..=299).contains(&status) {
            batch.acknowledged.set();
        }
        if self.protocol.is_otlp() {
            return self
                .otlp_outcome(response, status, retry_after, location)
                .await;
        }
        // The outcome is the status: a 2xx settles the batch now, however slowly the body follows. The
        // body is read on its own (at most 64 KiB or 1 s), so the connection can be reused, and never
        // changes the outcome.
        tokio::spawn(drain(response));
        classify(status, retry_after, location.as_deref())
    }

    /// OTLP's outcome: the status after the OTLP/HTTP spec; a 2xx body is read (at most 64 KiB or 1 s)
    /// for its `partial_success`. The batch is already acknowledged then: if the delivery is cut short
    /// while the body is read (the shutdown deadline), its logs settle as sent.
    async fn otlp_outcome(
        &self,
        response: reqwest::Response,
        status: u16,
        retry_after: Option<Duration>,
        location: Option<String>,
    ) -> Result<(), SendError> {
        if !(200..=299).contains(&status) {
            tokio::spawn(drain(response));
            return classify_otlp(status, retry_after, location.as_deref());
        }
        let body = read_bounded(response).await;
        #[cfg(feature = "otlp")]
        if let Some((rejected, message)) =
            crate::encode::otlp::partial_success(&body, self.protocol == Protocol::OtlpJson)
        {
            return Err(SendError::PartlyRejected { rejected, message });
        }
        let _ = body;
        Ok(())
    }
}

/// The client's settings: timeouts, keep-alive, no redirects, and the proxy `route` decided.
fn client_builder(timeout: Duration, route: &Route) -> Result<reqwest::ClientBuilder, String> {
    let builder = reqwest::Client::builder()
        .user_agent(crate::SDK)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        // reqwest would read HTTP_PROXY & co. itself; `route` already decided.
        .no_proxy();
    Ok(match route {
        Route::Direct => builder,
        Route::Proxy(url) => builder.proxy(
            reqwest::Proxy::all(url.as_str())
                .map_err(|_| "the proxy URL is not usable".to_owned())?,
        ),
    })
}

/// A response body, at most [`MAX_RESPONSE_BYTES`] or [`MAX_DRAIN_TIME`] of it.
async fn read_bounded(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while body.len() < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, read).await;
    body
}

/// Reads and discards a response body, at most [`MAX_RESPONSE_BYTES`] or [`MAX_DRAIN_TIME`].
async fn drain(mut response: reqwest::Response) {
    let read = async {
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, read).await;
}

/// How long a response body is read before the connection is dropped.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(1);

/// Where a redirect points, as its origin only (`https://host:port`): the rest may carry secrets.
fn redirect_origin(endpoint: &url::Url, location: &str) -> String {
    match endpoint.join(location) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => "an unparsable Location".to_owned(),
    }
}

impl Transport for HttpTransport {
    fn send<'a>(&'a self, batch: &'a EncodedBatch) -> SendFuture<'a> {
        Box::pin(self.send_once(batch))
    }

    fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// A reqwest error in words, without the URL's credentials or our headers.
fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if let Some(why) = certificate_problem(&detail) {
        return format!("{CERTIFICATE_REFUSED}: {why}");
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// How a failure to trust the endpoint's TLS certificate begins (the worker reports it once, in these
/// words, and keeps retrying quietly: a certificate can be fixed, or be rotated in, while the service
/// runs).
pub(crate) const CERTIFICATE_REFUSED: &str = "the endpoint's TLS certificate was refused";

/// rustls's certificate errors, in plain words (rustls's own after them when it names no known case).
fn certificate_problem(detail: &str) -> Option<String> {
    let rest = detail.split_once("invalid peer certificate")?.1;
    let rest = rest.trim_start_matches([':', ' ']);
    let plain = if rest.contains("UnknownIssuer") {
        "it is not signed by a certificate authority this host trusts (self-signed, or a private CA)"
    } else if rest.contains("NotValidForName") || rest.contains("not valid for name") {
        "it is not valid for the endpoint's host name"
    } else if rest.contains("Expired") || rest.contains("expired") {
        "it has expired"
    } else if rest.contains("NotValidYet") || rest.contains("not valid yet") {
        "it is not valid yet (check this host's clock)"
    } else if rest.contains("CaUsedAsEndEntity") {
        "it is a certificate authority's certificate, not a server's"
    } else if rest.contains("Revoked") {
        "it has been revoked"
    } else {
        return Some(format!("it does not verify ({rest})"));
    };
    Some(plain.to_owned())
}

/// A redirect, refused the same way under both protocols' rules. `location` is its target origin.
fn redirected(status: u16, location: Option<&str>) -> SendError {
    SendError::Rejected {
        status,
        reason: format!(
            "HTTP {status}: the endpoint redirects to {}; redirects are not followed, point Config::endpoint at the ingest URL itself",
            location.unwrap_or("no Location")
        ),
    }
}

/// Maps a status to the wire format's rules. `location` is a redirect's target origin.
pub(crate) fn classify(
    status: u16,
    retry_after: Option<Duration>,
    location: Option<&str>,
) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        // Redirects are not followed (see `HttpTransport::with_route`): the endpoint is wrong.
        300..=399 => Err(redirected(status, location)),
        408 | 429 | 500 | 502 | 503 | 504 => Err(SendError::Retry {
            reason: format!("HTTP {status}"),
            retry_after,
        }),
        413 => Err(SendError::TooLarge),
        400..=499 => Err(SendError::Rejected {
            status,
            reason: match status {
                401 => "HTTP 401: the API token was refused".to_owned(),
                403 => "HTTP 403: the API token may not write to this service".to_owned(),
                _ => format!("HTTP {status}"),
            },
        }),
        // Other 5xx and anything unexpected (1xx): treat as transient.
        _ => Err(SendError::Retry {
            reason: format!("HTTP {status}"),
            retry_after,
        }),
    }
}

/// Maps a status after the OTLP/HTTP spec: 429, 502, 503 and 504 are retried (honouring `Retry-After`);
/// 413 splits the batch as in the LogiScout format; every other non-2xx status (400 included) is final.
pub(crate) fn classify_otlp(
    status: u16,
    retry_after: Option<Duration>,
    location: Option<&str>,
) -> Result<(), SendError> {
    match status {
        200..=299 => Ok(()),
        429 | 502 | 503 | 504 => Err(SendError::Retry {
            reason: format!("HTTP {status}"),
            retry_after,
        }),
        413 => Err(SendError::TooLarge),
        300..=399 => Err(redirected(status, location)),
        _ => Err(SendError::Rejected {
            status,
            reason: match status {
                400 => "HTTP 400: the OTLP endpoint refused the batch as malformed".to_owned(),
                401 | 403 => format!("HTTP {status}: the OTLP endpoint refused the credentials (Config::api_token or Config::header)"),
                404 => "HTTP 404: no OTLP logs receiver at this URL (a collector's is http://host:4318/v1/logs)".to_owned(),
                _ => format!("HTTP {status}"),
            },
        }),
    }
}

/// `Retry-After` as seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Retry timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub base: Duration,
    pub max_delay: Duration,
    pub give_up_after: Duration,
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0 for the first retry): full jitter over
    /// `min(max_delay, base * 2^attempt)`, or the server's `Retry-After` (capped) when it asks for more.
    pub(crate) fn delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let exp = self
            .base
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let jittered =
            Duration::from_nanos(rng.u64(0..=exp.as_nanos().min(u64::MAX as u128) as u64));
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_wire_format() {
        assert_eq!(classify(200, None, None), Ok(()));
        assert_eq!(classify(204, None, None), Ok(()));
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(classify(s, None, None), Err(SendError::Retry { .. })),
                "{s}"
            );
        }
        assert_eq!(classify(413, None, None), Err(SendError::TooLarge));
        assert!(matches!(
            classify(302, None, Some("https://login.example.com")),
            Err(SendError::Rejected { status: 302, reason }) if reason.contains("https://login.example.com")
        ));
        for s in [400, 401, 403, 404, 422] {
            assert!(
                matches!(classify(s, None, None), Err(SendError::Rejected { status, .. }) if status == s)
            );
        }
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), None),
            Err(SendError::Retry { retry_after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
    }

    #[test]
    fn otlp_statuses_follow_the_otlp_spec() {
        assert_eq!(classify_otlp(200, None, None), Ok(()));
        for s in [429, 502, 503, 504] {
            assert!(
                matches!(classify_otlp(s, Some(Duration::from_secs(2)), None), Err(SendError::Retry { retry_after: Some(d), .. }) if d == Duration::from_secs(2)),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 408, 500, 501, 505] {
            assert!(
                matches!(classify_otlp(s, None, None), Err(SendError::Rejected { status, .. }) if status == s),
                "{s}"
            );
        }
        assert_eq!(classify_otlp(413, None, None), Err(SendError::TooLarge));
        assert!(matches!(
            classify_otlp(307, None, None),
            Err(SendError::Rejected { status: 307, .. })
        ));
    }

    /// The environment of these tests: every proxy variable names `http://env-proxy:1`.
    fn proxies_everywhere(name: &str) -> Option<String> {
        matches!(
            name.to_ascii_uppercase().as_str(),
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY"
        )
        .then(|| "http://env-proxy:1".to_owned())
    }

    #[test]
    fn config_proxy_carries_an_https_endpoint_through_that_proxy() {
        let setting = crate::Config::new("s")
            .proxy("http://proxy.internal:3128")
            .proxy_setting()
            .unwrap();
        let https = url::Url::parse("https://ingest.example.com/ingest").unwrap();
        let explicit = Ok(Route::Proxy(
            url::Url::parse("http://proxy.internal:3128").unwrap(),
        ));
        // With nothing in the environment, and over what the environment names.
        assert_eq!(route(&https, &setting, |_| None), explicit);
        assert_eq!(route(&https, &setting, proxies_everywhere), explicit);
        // `NO_PROXY` is the environment's: an explicit proxy is not turned off by it.
        let no_proxy = |name: &str| (name == "NO_PROXY").then(|| "*".to_owned());
        assert_eq!(route(&https, &setting, no_proxy), explicit);
    }

    #[test]
    fn config_no_proxy_goes_direct_whatever_the_environment_says() {
        let setting = crate::Config::new("s").no_proxy().proxy_setting().unwrap();
        assert_eq!(setting, ProxySetting::Off);
        for endpoint in [
            "https://ingest.example.com/ingest",
            "http://logs.internal/ingest",
        ] {
            let endpoint = url::Url::parse(endpoint).unwrap();
            assert_eq!(
                route(&endpoint, &setting, proxies_everywhere),
                Ok(Route::Direct),
                "{endpoint}"
            );
        }
        // The last call wins: `no_proxy` after `proxy` turns it off, `proxy` after `no_proxy` on.
        let later = crate::Config::new("s").proxy("http://p:1").no_proxy();
        assert_eq!(later.proxy_setting().unwrap(), ProxySetting::Off);
        let on = crate::Config::new("s").no_proxy().proxy("http://p:1");
        assert!(matches!(
            on.proxy_setting().unwrap(),
            ProxySetting::Explicit(_)
        ));
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 25 Nov 2026 12:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 12:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_stays_within_bounds_and_honours_retry_after() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            give_up_after: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(30),
        };
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..40 {
            let ceiling = (Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(20)))
                .min(Duration::from_secs(5));
            for _ in 0..50 {
                let d = p.delay(attempt, None, &mut rng);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
        // Averages grow with the attempt number until the cap.
        let mean = |attempt, rng: &mut fastrand::Rng| {
            (0..2000)
                .map(|_| p.delay(attempt, None, rng).as_secs_f64())
                .sum::<f64>()
                / 2000.0
        };
        let (m0, m3, m10) = (mean(0, &mut rng), mean(3, &mut rng), mean(10, &mut rng));
        assert!(m0 < m3 && m3 < m10, "{m0} {m3} {m10}");
        assert!((m10 - 2.5).abs() < 0.25, "{m10}");
        assert!(p.delay(0, Some(Duration::from_secs(2)), &mut rng) >= Duration::from_secs(2));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600)), &mut rng),
            Duration::from_secs(30)
        );
        // Two clients (two seeds) do not retry in lockstep.
        let mut a = fastrand::Rng::with_seed(1);
        let mut b = fastrand::Rng::with_seed(2);
        let xs: Vec<_> = (0..5).map(|i| p.delay(i, None, &mut a)).collect();
        let ys: Vec<_> = (0..5).map(|i| p.delay(i, None, &mut b)).collect();
        assert_ne!(xs, ys);
    }
}
