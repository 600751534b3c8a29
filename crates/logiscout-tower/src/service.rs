use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use logiscout_core::correlation::{self, CorrelationId};
use logiscout_core::middleware::{header_is_id, IncomingRequest};
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
        let mut incoming_values = headers.get_all(&settings.header).iter();
        let incoming_value = incoming_values.next();
        let incoming = IncomingRequest::new(req.method().as_str(), req.uri().path())
            .correlation_header(incoming_value.map(HeaderValue::as_bytes))
            .traceparent(headers.get(&TRACEPARENT).map(HeaderValue::as_bytes))
            .preset_id(preset);
        let ctx = settings.policy.start(incoming);
        let id = ctx.correlation_id();
        // The request's own header is the ID (its only value): the request stays as it is, and the response
        // echoes that value (a reference-counted clone, no copy).
        let kept = incoming_value
            .filter(|v| header_is_id(v.as_bytes(), incoming_values.next().is_none(), id))
            .cloned();
        let value = match kept {
            Some(value) => value,
            None => {
                let value = header_value(id);
                req.headers_mut()
                    .insert(settings.header.clone(), value.clone());
                value
            }
        };
        req.extensions_mut().insert(id.clone());
        // The synchronous part of the inner `call` runs in the scope too (handlers may log there).
        let future = correlation::sync_scope(ctx.clone(), || self.inner.call(req));
        ResponseFuture::new(future, ctx, settings.header.clone(), value)
    }
}

/// The ID as a header value for the request and the response: one buffer, shared by both (a clone is a
/// reference count, where a copied value's first clone allocated again).
fn header_value(id: &CorrelationId) -> HeaderValue {
    // `start` returns valid IDs only (ASCII from a safe alphabet): the fallback is never taken.
    HeaderValue::from_maybe_shared(Bytes::from_owner(id.clone()))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
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
    async fn every_incoming_value_gives_way_to_the_one_id() {
        let svc = ServiceBuilder::new()
            .layer(CorrelationLayer::new())
            .service(service_fn(|req: Request<String>| async move {
                let values: Vec<&str> = req
                    .headers()
                    .get_all("x-correlation-id")
                    .iter()
                    .map(|v| v.to_str().unwrap())
                    .collect();
                Ok::<_, Infallible>(Response::new(values.join(",")))
            }));
        for (incoming, want) in [
            (&["dup-1", "dup-2"][..], Some("dup-1")),
            (&["bad id", "ok-2"][..], None),
        ] {
            let mut req = Request::new(String::new());
            for v in incoming {
                req.headers_mut()
                    .append("x-correlation-id", HeaderValue::from_str(v).unwrap());
            }
            let resp = svc.clone().oneshot(req).await.unwrap();
            let echoed = resp.headers()["x-correlation-id"]
                .to_str()
                .unwrap()
                .to_owned();
            if let Some(want) = want {
                assert_eq!(echoed, want);
            } else {
                assert_eq!(echoed.len(), 36, "a UUID");
            }
            use http_body_util::BodyExt;
            let seen = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(seen, echoed, "the request holds the one ID, once");
        }
    }

    /// One data frame, then the end; notes the scope it is dropped in.
    struct Probe {
        sent: bool,
        dropped_in: std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>,
    }

    impl http_body::Body for Probe {
        type Data = bytes::Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
            let first = !self.sent;
            self.sent = true;
            std::task::Poll::Ready(
                first.then(|| Ok(http_body::Frame::data(bytes::Bytes::from_static(b"x")))),
            )
        }

        fn is_end_stream(&self) -> bool {
            self.sent
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            let scope = correlation::current().map(|id| id.to_string());
            self.dropped_in.lock().unwrap().push(scope);
        }
    }

    #[tokio::test]
    async fn the_body_is_dropped_inside_the_scope_when_it_ends() {
        use http_body::Body as _;
        use http_body_util::BodyExt;
        let dropped_in = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let probe = dropped_in.clone();
        let svc = ServiceBuilder::new()
            .layer(CorrelationLayer::new())
            .service(service_fn(move |_req: Request<String>| {
                let dropped_in = probe.clone();
                async move {
                    Ok::<_, Infallible>(Response::new(Probe {
                        sent: false,
                        dropped_in,
                    }))
                }
            }));
        let mut req = Request::new(String::new());
        req.headers_mut()
            .insert("x-correlation-id", HeaderValue::from_static("body-1"));
        let mut body = svc.oneshot(req).await.unwrap().into_body();
        assert!(!body.is_end_stream());
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "x");
        assert_eq!(
            *dropped_in.lock().unwrap(),
            [Some("body-1".to_owned())],
            "ended: dropped at once, inside the scope"
        );
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.frame().await.is_none());
        drop(body);
        assert_eq!(dropped_in.lock().unwrap().len(), 1);
        assert!(correlation::current().is_none());
    }

    #[tokio::test]
    async fn the_scope_ends_with_the_request() {
        let _ = call(CorrelationLayer::new(), Some("scoped")).await;
        assert!(correlation::current().is_none());
    }
}
