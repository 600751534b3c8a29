//! For middleware authors: what a correlation middleware does for each request, with no HTTP framework
//! in sight. `logiscout-tower` and `logiscout-actix` are thin adapters over it; other frameworks can be
//! too.
//!
//! [`RequestPolicy::start`] decides the request's correlation ID and trace context from what the request
//! brought, and records its start; [`RequestGuard`] records its end exactly once. In between, the
//! framework runs the handler inside [`correlation::scope`](crate::correlation::scope) with the returned
//! context and echoes [`Context::correlation_id`] on the response.
//!
//! ```
//! use logiscout_core::correlation;
//! use logiscout_core::middleware::{IncomingRequest, RequestGuard, RequestPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let policy = RequestPolicy::new();
//! let incoming = IncomingRequest::new("GET", "/users/7?x=1")
//!     .correlation_header(Some(b"abc-123"))
//!     .traceparent(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
//! let ctx = policy.start(incoming);
//! let guard = RequestGuard::new(ctx.clone());
//! let status = correlation::scope(ctx.clone(), async {
//!     log::info!(user_id = 7; "Fetching user");
//!     200
//! })
//! .await;
//! guard.finish(status);
//! assert_eq!(ctx.correlation_id().as_str(), "abc-123");
//! assert_eq!(ctx.trace().unwrap().trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::context::{Context, CorrelationId, RequestInfo};
use crate::trace::TraceContext;

/// How a correlation middleware treats requests: whether incoming IDs and trace context are trusted, how
/// new IDs are made, whether every request ships a payload. Cheap to clone.
///
/// The correlation ID of a request is, in this order:
/// 1. an ID the framework already decided (e.g. tower-http's `SetRequestIdLayer` in front), when valid;
/// 2. the incoming correlation header, when trusted and valid;
/// 3. the trace-id (32 hex digits) of a trusted, valid incoming `traceparent`, so services that only
///    propagate W3C trace context still share one ID across hops;
/// 4. a new one from the generator (a UUID v4 by default; an invalid generated ID is replaced by one).
///
/// The trace context: a trusted, valid incoming `traceparent` is continued with a new span-id for the
/// request; otherwise (none, invalid, or untrusted) a new trace starts. [`RequestPolicy::trace_context`]
/// turns both off.
#[derive(Clone)]
pub struct RequestPolicy {
    trust_incoming: bool,
    /// `None`: the default, [`CorrelationId::generate`], called directly (no indirect call) and known to
    /// make valid IDs (not checked byte by byte on every request).
    generator: Option<Arc<dyn Fn() -> CorrelationId + Send + Sync>>,
    record_all_requests: bool,
    trace_context: bool,
}

impl fmt::Debug for RequestPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestPolicy")
            .field("trust_incoming", &self.trust_incoming)
            .field("record_all_requests", &self.record_all_requests)
            .field("trace_context", &self.trace_context)
            .finish_non_exhaustive()
    }
}

impl Default for RequestPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestPolicy {
    /// Incoming IDs and trace context trusted, UUID v4 for new IDs, payloads only for requests that
    /// logged, trace context on.
    pub fn new() -> Self {
        RequestPolicy {
            trust_incoming: true,
            generator: None,
            record_all_requests: false,
            trace_context: true,
        }
    }

    /// Whether a valid incoming correlation ID and `traceparent` are kept (default `true`). Untrusted,
    /// every request gets a new ID and starts a new trace.
    pub fn trust_incoming(mut self, trust: bool) -> Self {
        self.trust_incoming = trust;
        self
    }

    /// How new IDs are made (default: UUID v4).
    pub fn generator(
        mut self,
        generator: impl Fn() -> CorrelationId + Send + Sync + 'static,
    ) -> Self {
        self.generator = Some(Arc::new(generator));
        self
    }

    /// Ships a payload for every request, even one that logged nothing (default `false`).
    pub fn record_all_requests(mut self, all: bool) -> Self {
        self.record_all_requests = all;
        self
    }

    /// Whether requests carry W3C trace context (default `true`): continued from a valid incoming
    /// `traceparent`, or a new trace. Off, records carry no trace-id or span-id.
    pub fn trace_context(mut self, on: bool) -> Self {
        self.trace_context = on;
        self
    }

    /// Whether incoming IDs are trusted.
    pub fn trusts_incoming(&self) -> bool {
        self.trust_incoming
    }

    /// Whether every request ships a payload.
    pub fn records_all_requests(&self) -> bool {
        self.record_all_requests
    }

    /// Whether requests carry trace context.
    pub fn has_trace_context(&self) -> bool {
        self.trace_context
    }

    /// Decides the request's correlation ID and trace context (see the type's docs), records its start,
    /// and returns its context: run the handler in it and echo its ID on the response.
    pub fn start(&self, incoming: IncomingRequest<'_>) -> Context {
        let parent = if self.trust_incoming && self.trace_context {
            incoming
                .traceparent
                .and_then(TraceContext::parse_traceparent)
        } else {
            None
        };
        let id = self.choose_id(&incoming, parent.as_ref());
        let info = RequestInfo::new(incoming.method, incoming.path)
            .record_always(self.record_all_requests);
        let trace = self.trace_context.then(|| match parent {
            Some(parent) => parent.child(),
            None => TraceContext::new_root(),
        });
        let ctx = Context::for_request(id, trace, info);
        // Only a request that records always is announced at its start (`request_started` would look
        // up the logger to find that out).
        if self.record_all_requests {
            request_started(&ctx);
        }
        ctx
    }

    fn choose_id(
        &self,
        incoming: &IncomingRequest<'_>,
        parent: Option<&TraceContext>,
    ) -> CorrelationId {
        let valid = |id: &CorrelationId| CorrelationId::is_valid(id.as_str().as_bytes());
        if let Some(preset) = incoming.preset.as_ref().filter(|id| valid(id)) {
            return preset.clone();
        }
        if self.trust_incoming {
            if let Some(id) = incoming
                .correlation_header
                .and_then(|v| CorrelationId::parse_bytes(v).ok())
            {
                return id;
            }
            if let Some(parent) = parent {
                return CorrelationId::new(parent.trace_id_hex());
            }
        }
        let Some(generator) = &self.generator else {
            return CorrelationId::generate();
        };
        let generated = generator();
        // A valid ID is ASCII from a safe alphabet, so it always makes a header value; a generator's odd
        // output is replaced rather than sent raw.
        if valid(&generated) {
            generated
        } else {
            CorrelationId::generate()
        }
    }
}

/// Whether a request's own correlation header can stay as it is and be echoed on the response: its
/// first value is the ID [`RequestPolicy::start`] chose, and it has no other value. Otherwise the
/// middleware sets the header to the ID (replacing every value the request brought).
///
/// ```
/// use logiscout_core::correlation::CorrelationId;
/// use logiscout_core::middleware::header_is_id;
///
/// let id = CorrelationId::new("abc-123");
/// assert!(header_is_id(b"abc-123", true, &id));
/// assert!(!header_is_id(b"abc-123", false, &id), "a second value: set the header again");
/// assert!(!header_is_id(b"bad id", true, &id));
/// ```
pub fn header_is_id(first: &[u8], only_value: bool, id: &CorrelationId) -> bool {
    only_value && first == id.as_str().as_bytes()
}

/// What a middleware read off an incoming request, for [`RequestPolicy::start`].
#[derive(Debug, Clone)]
pub struct IncomingRequest<'a> {
    method: &'a str,
    path: &'a str,
    correlation_header: Option<&'a [u8]>,
    traceparent: Option<&'a [u8]>,
    preset: Option<CorrelationId>,
}

impl<'a> IncomingRequest<'a> {
    /// A request with this method and path (a query string or fragment in `path` is left out of what
    /// ships: it may hold secrets).
    #[inline]
    pub fn new(method: &'a str, path: &'a str) -> Self {
        IncomingRequest {
            method,
            path,
            correlation_header: None,
            traceparent: None,
            preset: None,
        }
    }

    /// The value of the correlation header, if the request has one.
    #[inline]
    pub fn correlation_header(mut self, value: Option<&'a [u8]>) -> Self {
        self.correlation_header = value;
        self
    }

    /// The value of the `traceparent` header, if the request has one.
    #[inline]
    pub fn traceparent(mut self, value: Option<&'a [u8]>) -> Self {
        self.traceparent = value;
        self
    }

    /// An ID decided before this middleware (e.g. by tower-http's `SetRequestIdLayer`): it wins when
    /// valid, trusted or not (it is the application's own decision).
    #[inline]
    pub fn preset_id(mut self, id: Option<CorrelationId>) -> Self {
        self.preset = id;
        self
    }
}

/// Records a request's end exactly once: [`finish`](RequestGuard::finish) with its status, or — dropped
/// before that — 500 while a panic unwinds (what a panic-catching layer answers), 499 otherwise (the
/// client went away, as nginx logs it).
#[derive(Debug)]
pub struct RequestGuard {
    ctx: Option<Context>,
}

impl RequestGuard {
    /// A guard for the request in `ctx` (from [`RequestPolicy::start`]).
    pub fn new(ctx: Context) -> Self {
        RequestGuard { ctx: Some(ctx) }
    }

    /// Records the end with `status`.
    pub fn finish(mut self, status: u16) {
        self.record(status);
    }

    /// Records the end with `status` unless already recorded; later calls and the drop do nothing.
    pub fn record(&mut self, status: u16) {
        if let Some(ctx) = self.ctx.take() {
            request_finished(&ctx, Some(status));
        }
    }

    /// Whether the end is still to be recorded.
    pub fn is_pending(&self) -> bool {
        self.ctx.is_some()
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let status = if std::thread::panicking() { 500 } else { 499 };
        self.record(status);
    }
}

/// Records the start of the request in `ctx` (no-op without request info or outside `Env::Prod`).
/// [`RequestPolicy::start`] calls it; call it yourself only with a context you built by hand.
///
/// The shipping worker hears of a request when it first logs, so a request that logs nothing costs
/// no work there; only a request with `record_always` is handed over here, at its start.
pub fn request_started(ctx: &Context) {
    if let Some(shipper) = crate::logger::installed().and_then(|l| l.shipper.get()) {
        shipper.request_started(ctx);
    }
}

/// Records the end of the request in `ctx`, with its status (`None` when unknown). Sends nothing for a
/// request that logged nothing (and does not record always); a second call for the same request is a
/// no-op. [`RequestGuard`] calls it.
pub fn request_finished(ctx: &Context, status: Option<u16>) {
    if let Some(shipper) = crate::logger::installed().and_then(|l| l.shipper.get()) {
        shipper.request_finished(ctx, status);
    }
}

#[cfg(test)]
mod tests {
    use super::{IncomingRequest, RequestPolicy};
    use crate::correlation::CorrelationId;

    const PARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn start(
        policy: &RequestPolicy,
        header: Option<&[u8]>,
        tp: Option<&[u8]>,
    ) -> crate::correlation::Context {
        policy.start(
            IncomingRequest::new("GET", "/x?secret=1")
                .correlation_header(header)
                .traceparent(tp),
        )
    }

    #[test]
    fn the_id_comes_from_the_header_then_the_traceparent_then_the_generator() {
        let policy = RequestPolicy::new().generator(|| CorrelationId::new("gen-1"));
        let both = start(&policy, Some(b"hdr-1"), Some(PARENT));
        assert_eq!(both.correlation_id().as_str(), "hdr-1");
        let tp_only = start(&policy, None, Some(PARENT));
        assert_eq!(
            tp_only.correlation_id().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let bad_header = start(&policy, Some(b"has space"), None);
        assert_eq!(bad_header.correlation_id().as_str(), "gen-1");
        assert_eq!(both.request().unwrap().path, "/x");
    }

    #[test]
    fn a_preset_id_wins_and_an_invalid_generated_id_is_replaced() {
        let policy = RequestPolicy::new().generator(|| CorrelationId::new("bad id\r\n"));
        let preset = policy.start(
            IncomingRequest::new("GET", "/")
                .correlation_header(Some(b"hdr-1"))
                .preset_id(Some(CorrelationId::new("preset-1"))),
        );
        assert_eq!(preset.correlation_id().as_str(), "preset-1");
        let generated = start(&policy, None, None);
        assert_eq!(generated.correlation_id().as_str().len(), 36, "a UUID");
    }

    #[test]
    fn the_default_generator_makes_valid_uuids() {
        let policy = RequestPolicy::new();
        let a = start(&policy, None, None);
        let b = start(&policy, Some(b"has space"), None);
        for id in [a.correlation_id(), b.correlation_id()] {
            assert_eq!(id.as_str().len(), 36);
            assert!(CorrelationId::parse(id.as_str()).is_ok(), "{id}");
        }
        assert_ne!(a.correlation_id(), b.correlation_id());
        let info = a.request().unwrap();
        assert_eq!((&*info.method, info.path.as_str()), ("GET", "/x"));
        assert!(!info.record_always);
        let all = start(&policy.clone().record_all_requests(true), None, None);
        assert!(all.request().unwrap().record_always);
    }

    #[test]
    fn a_valid_traceparent_is_continued_and_anything_else_starts_a_trace() {
        let policy = RequestPolicy::new();
        let continued = start(&policy, None, Some(PARENT));
        let trace = continued.trace().unwrap();
        assert_eq!(trace.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(
            trace.span_id_hex(),
            "00f067aa0ba902b7",
            "the request's own span"
        );
        let bad = b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
        for tp in [None, Some(&bad[..])] {
            let fresh = start(&policy, None, tp);
            let t = fresh.trace().unwrap();
            assert_ne!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_ne!(fresh.correlation_id().as_str(), t.trace_id_hex());
        }
    }

    #[test]
    fn untrusted_or_off_means_no_incoming_trace() {
        let untrusted = start(
            &RequestPolicy::new().trust_incoming(false),
            Some(b"hdr-1"),
            Some(PARENT),
        );
        assert_ne!(untrusted.correlation_id().as_str(), "hdr-1");
        assert_ne!(
            untrusted.trace().unwrap().trace_id_hex(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let off = start(
            &RequestPolicy::new().trace_context(false),
            None,
            Some(PARENT),
        );
        assert!(off.trace().is_none());
        assert_ne!(
            off.correlation_id().as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "with trace context off the traceparent is not read at all"
        );
    }
}
