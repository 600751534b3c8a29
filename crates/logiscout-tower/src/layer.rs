use std::fmt;
use std::sync::Arc;

use http::HeaderName;
use logiscout_core::correlation::CorrelationId;
use logiscout_core::middleware::RequestPolicy;
use tower_layer::Layer;

use crate::service::CorrelationService;

/// Settings shared by every clone of the layer and its services.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) header: HeaderName,
    pub(crate) policy: RequestPolicy,
}

/// A [`Layer`] that gives every request a correlation ID and runs it inside that correlation scope.
///
/// The request's [`CorrelationId`] is put in its headers and its extensions (where the axum extractor and
/// `req.extensions().get::<CorrelationId>()` find it) and echoed on the response. Its services are
/// [`CorrelationService`]s.
///
/// With the `tower-http` feature, a `RequestId` that tower-http's `SetRequestIdLayer` (running before this
/// layer) set or found is the request's ID, when it is a valid correlation ID: it wins over this layer's
/// header, and `trust_incoming` does not apply to it (`SetRequestIdLayer` keeps an incoming `x-request-id`;
/// remove that header before it at a trust boundary).
///
/// ```
/// # mod logiscout { pub mod tower { pub use logiscout_tower::*; } }
/// use logiscout::tower::{CorrelationId, CorrelationLayer};
///
/// let layer = CorrelationLayer::new()
///     .header_name(http::HeaderName::from_static("x-request-id"))
///     .trust_incoming(true)
///     .generator(|| CorrelationId::new(format!("req-{}", std::process::id())))
///     .record_all_requests(true);
/// ```
#[derive(Clone)]
pub struct CorrelationLayer {
    settings: Arc<Settings>,
}

impl fmt::Debug for CorrelationLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationLayer")
            .field("header", &self.settings.header)
            .field("policy", &self.settings.policy)
            .finish_non_exhaustive()
    }
}

impl Default for CorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CorrelationLayer {
    /// The default: header `x-correlation-id`, incoming IDs trusted when valid, UUID v4 for new ones,
    /// payloads only for requests that logged something (like the Python client).
    pub fn new() -> Self {
        CorrelationLayer {
            settings: Arc::new(Settings {
                header: HeaderName::from_static(crate::DEFAULT_HEADER),
                policy: RequestPolicy::new(),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        let mut copy = (*self.settings).clone();
        f(&mut copy);
        self.settings = Arc::new(copy);
        self
    }

    /// The header that carries the ID in and out (default `x-correlation-id`).
    pub fn header_name(self, header: HeaderName) -> Self {
        self.with(|s| s.header = header)
    }

    /// Whether a valid incoming ID and `traceparent` are kept (default `true`). With `false`, every
    /// request gets a new ID and starts a new trace, for services at a trust boundary.
    pub fn trust_incoming(self, trust: bool) -> Self {
        self.with(|s| s.policy = s.policy.clone().trust_incoming(trust))
    }

    /// How new IDs are made (default: UUID v4).
    pub fn generator(self, generator: impl Fn() -> CorrelationId + Send + Sync + 'static) -> Self {
        self.with(|s| s.policy = s.policy.clone().generator(generator))
    }

    /// Ships a payload (method, path, status, duration) for every request, even one that logged
    /// nothing: an access log. Default `false`: no logs, no payload.
    pub fn record_all_requests(self, all: bool) -> Self {
        self.with(|s| s.policy = s.policy.clone().record_all_requests(all))
    }

    /// Whether requests carry W3C trace context (default `true`): a valid incoming `traceparent` is
    /// continued with a new span-id for the request, otherwise a new trace starts; every record of the
    /// request carries the trace-id and span-id. Without an `x-correlation-id`, a valid incoming
    /// `traceparent`'s trace-id is also the correlation ID. See
    /// [`RequestPolicy`](logiscout_core::middleware::RequestPolicy) for the rules.
    pub fn trace_context(self, on: bool) -> Self {
        self.with(|s| s.policy = s.policy.clone().trace_context(on))
    }
}

impl<S> Layer<S> for CorrelationLayer {
    type Service = CorrelationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CorrelationService::new(inner, self.settings.clone())
    }
}
