use std::task::{Context as TaskContext, Poll};

use http::{HeaderName, HeaderValue, Request};
use logiscout_core::correlation::{self, TRACEPARENT_HEADER};
use tower_layer::Layer;
use tower_service::Service;

/// A [`Layer`] for outgoing HTTP clients built on tower: adds the current correlation ID to each request
/// that does not already carry one, so the next service continues the same correlation, and a W3C
/// `traceparent` with the current trace-id and the current request's span as the parent, so the next
/// service continues the same trace.
///
/// ```
/// # mod logiscout { pub mod tower { pub use logiscout_tower::*; } }
/// use logiscout::tower::PropagateCorrelationLayer;
/// use tower_layer::Layer;
///
/// # let client = tower::service_fn(|_req: http::Request<String>| async { Ok::<_, std::convert::Infallible>(()) });
/// let client = PropagateCorrelationLayer::new().layer(client);
/// ```
#[derive(Debug, Clone)]
pub struct PropagateCorrelationLayer {
    header: HeaderName,
    traceparent: bool,
}

impl Default for PropagateCorrelationLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl PropagateCorrelationLayer {
    /// Uses the `x-correlation-id` header.
    pub fn new() -> Self {
        PropagateCorrelationLayer {
            header: HeaderName::from_static(crate::DEFAULT_HEADER),
            traceparent: true,
        }
    }

    /// Uses another header.
    pub fn header_name(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Whether a `traceparent` is sent too (default `true`; never over one the request already has).
    pub fn traceparent(mut self, on: bool) -> Self {
        self.traceparent = on;
        self
    }
}

impl<S> Layer<S> for PropagateCorrelationLayer {
    type Service = PropagateCorrelation<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PropagateCorrelation {
            inner,
            header: self.header.clone(),
            traceparent: self.traceparent,
        }
    }
}

/// The service made by [`PropagateCorrelationLayer`].
#[derive(Debug, Clone)]
pub struct PropagateCorrelation<S> {
    inner: S,
    header: HeaderName,
    traceparent: bool,
}

impl<S, B> Service<Request<B>> for PropagateCorrelation<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if !req.headers().contains_key(&self.header) {
            if let Some(id) = correlation::current() {
                if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                    req.headers_mut().insert(self.header.clone(), value);
                }
            }
        }
        if self.traceparent && !req.headers().contains_key(TRACEPARENT_HEADER) {
            if let Some(trace) = correlation::current_trace() {
                if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
                    req.headers_mut()
                        .insert(HeaderName::from_static(TRACEPARENT_HEADER), value);
                }
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::Request;
    use logiscout_core::correlation::{self, Context, CorrelationId, TraceContext};
    use tower::{service_fn, ServiceExt};
    use tower_layer::Layer;

    use super::PropagateCorrelationLayer;

    async fn sent_header(req: Request<()>) -> Option<String> {
        let client =
            PropagateCorrelationLayer::new().layer(service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(
                    req.headers()
                        .get("x-correlation-id")
                        .map(|v| v.to_str().unwrap().to_owned()),
                )
            }));
        client.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn outgoing_requests_carry_the_current_id() {
        let inside =
            correlation::scope(CorrelationId::new("up-1"), sent_header(Request::new(()))).await;
        assert_eq!(inside.as_deref(), Some("up-1"));
        assert_eq!(sent_header(Request::new(())).await, None);
        let preset = Request::builder()
            .header("x-correlation-id", "explicit")
            .body(())
            .unwrap();
        let kept = correlation::scope(CorrelationId::new("up-2"), sent_header(preset)).await;
        assert_eq!(kept.as_deref(), Some("explicit"));
    }

    async fn sent_traceparent(
        layer: PropagateCorrelationLayer,
        req: Request<()>,
    ) -> Option<String> {
        let client = layer.layer(service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(
                req.headers()
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned()),
            )
        }));
        client.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn outgoing_requests_continue_the_current_trace() {
        let trace = TraceContext::new_root();
        let ctx = Context::new(CorrelationId::new("up-3")).with_trace(trace);
        let layer = PropagateCorrelationLayer::new();
        let sent = correlation::scope(
            ctx.clone(),
            sent_traceparent(layer.clone(), Request::new(())),
        )
        .await
        .unwrap();
        let parsed = TraceContext::parse_traceparent(sent.as_bytes()).unwrap();
        assert_eq!(
            parsed, trace,
            "same trace-id, and the current span as the parent"
        );
        assert_eq!(
            sent_traceparent(layer.clone(), Request::new(())).await,
            None
        );
        let own = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let preset = Request::builder()
            .header("traceparent", own)
            .body(())
            .unwrap();
        let kept = correlation::scope(ctx.clone(), sent_traceparent(layer.clone(), preset)).await;
        assert_eq!(kept.as_deref(), Some(own));
        let off = correlation::scope(
            ctx,
            sent_traceparent(layer.traceparent(false), Request::new(())),
        )
        .await;
        assert_eq!(off, None);
    }
}
