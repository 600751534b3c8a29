use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use http::{HeaderName, HeaderValue, Request, Response};
use logiscout_core::correlation;
use logiscout_core::middleware::IncomingRequest;
use tower_service::Service;

use crate::body::CorrelatedBody;
use crate::future::ResponseFuture;
use crate::layer::Settings;

/// The W3C header, made once (a `&str` name is parsed again on every lookup).
static TRACEPARENT: HeaderName = HeaderName::from_static(correlation::TRACEPARENT_HEADER);

/// The service made by [`CorrelationLayer`](crate::CorrelationLayer).
#[derive(Clone)]
pub struct CorrelationService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S: fmt::Debug> fmt::Debug for CorrelationService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationService")
            .field("inner", &self.inner)
            .field("header", &self.settings.header)
            .finish_non_exhaustive()
    }
}

impl<S> CorrelationService<S> {
    pub(crate) fn new(inner: S, settings: Arc<Settings>) -> Self {
        CorrelationService { inner, settings }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CorrelationService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<CorrelatedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let settings = &*self.settings;
        // A tower-http `SetRequestIdLayer` in front has decided the request's ID: it becomes ours, so its
        // `x-request-id`, `TraceLayer` spans and the shipped logs share one ID.
        #[cfg(feature = "tower-http")]
        let preset = tower_http_request_id(&req);
        #[cfg(not(feature = "tower-http"))]
        let preset = None;
        let headers = req.headers();
        let incoming = IncomingRequest::new(req.method().as_str(), req.uri().path())
            .correlation_header(headers.get(&settings.header).map(HeaderValue::as_bytes))
            .traceparent(headers.get(&TRACEPARENT).map(HeaderValue::as_bytes))
            .preset_id(preset);
        let ctx = settings.policy.start(incoming);
        let id = ctx.correlation_id();
        // `start` returns valid IDs only (ASCII from a safe alphabet): the fallback is never taken.
        let value = HeaderValue::from_str(id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        req.headers_mut()
            .insert(settings.header.clone(), value.clone());
        req.extensions_mut().insert(id.clone());
        // The synchronous part of the inner `call` runs in the scope too (handlers may log there).
        let future = correlation::sync_scope(ctx.clone(), || self.inner.call(req));
        ResponseFuture::new(future, ctx, settings.header.clone(), value)
    }
}

/// The `RequestId` tower-http's `SetRequestIdLayer` put in the extensions, when it is a valid correlation ID.
#[cfg(feature = "tower-http")]
fn tower_http_request_id<B>(
    req: &Request<B>,
) -> Option<logiscout_core::correlation::CorrelationId> {
    let id = req
        .extensions()
        .get::<tower_http::request_id::RequestId>()?;
    logiscout_core::correlation::CorrelationId::parse_bytes(id.header_value().as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{HeaderValue, Request, Response};
    use logiscout_core::correlation::{self, CorrelationId};
    use tower::{service_fn, ServiceBuilder, ServiceExt};

    use crate::CorrelationLayer;

    /// What the inner service saw: the header, the extension, and the current scope, in `call` and after
    /// an await.
    async fn inspect(req: Request<String>) -> Result<Response<String>, Infallible> {
        let header = req.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let ext = req.extensions().get::<CorrelationId>().unwrap().to_string();
        tokio::task::yield_now().await;
        let scoped = correlation::current().unwrap().to_string();
        Ok(Response::new(format!("{header} {ext} {scoped}")))
    }

    async fn call(layer: CorrelationLayer, incoming: Option<&str>) -> (String, String) {
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(inspect));
        let mut req = Request::new(String::new());
        if let Some(v) = incoming {
            req.headers_mut()
                .insert("x-correlation-id", HeaderValue::from_str(v).unwrap());
        }
        let resp = svc.oneshot(req).await.unwrap();
        let echoed = resp.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = resp.into_body();
        use http_body_util::BodyExt;
        let bytes = body.collect().await.unwrap().to_bytes();
        (echoed, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_valid_incoming_id_is_kept_everywhere() {
        let (echoed, seen) = call(CorrelationLayer::new(), Some("abc-123")).await;
        assert_eq!(echoed, "abc-123");
        assert_eq!(seen, "abc-123 abc-123 abc-123");
    }

    #[tokio::test]
    async fn an_invalid_incoming_id_is_replaced_everywhere() {
        for bad in ["has space", &"x".repeat(129), "a\"b", "tab\there"] {
            let (echoed, seen) = call(CorrelationLayer::new(), Some(bad)).await;
            assert_ne!(echoed, bad);
            assert_eq!(echoed.len(), 36, "a UUID");
            assert_eq!(seen, format!("{echoed} {echoed} {echoed}"));
        }
    }

    #[tokio::test]
    async fn untrusted_incoming_ids_are_never_kept() {
        let layer = CorrelationLayer::new().trust_incoming(false);
        let (echoed, _) = call(layer, Some("abc-123")).await;
        assert_ne!(echoed, "abc-123");
    }

    #[tokio::test]
    async fn the_generator_makes_new_ids() {
        let layer = CorrelationLayer::new().generator(|| CorrelationId::new("gen-1"));
        assert_eq!(call(layer, None).await.0, "gen-1");
    }

    #[tokio::test]
    async fn the_scope_ends_with_the_request() {
        let _ = call(CorrelationLayer::new(), Some("scoped")).await;
        assert!(correlation::current().is_none());
    }
}
