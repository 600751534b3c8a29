use std::fmt;
use std::future::{ready, Future, Ready};
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage};
use bytes::Bytes;
use logiscout_core::correlation::{self, CorrelationId, Scoped};
use logiscout_core::middleware::{header_is_id, IncomingRequest, RequestGuard, RequestPolicy};

use crate::body::CorrelatedMessageBody;

/// The W3C header, made once (a `&str` name is parsed again on every lookup).
static TRACEPARENT: HeaderName = HeaderName::from_static(correlation::TRACEPARENT_HEADER);

/// The middleware with its default behaviour: `App::new().wrap(Correlation)`.
///
/// Header `x-correlation-id`, valid incoming IDs kept, UUID v4 for new ones, payloads only for requests
/// that logged something. [`Correlation::options`] changes these.
///
/// Each request's [`CorrelationId`] is put in its headers and its extensions, where the handler's
/// `CorrelationId` argument (the extractor) and `req.extensions().get::<CorrelationId>()` find it; it is the
/// one `logiscout::correlation::CorrelationId` type, re-exported here.
#[derive(Debug, Clone, Copy, Default)]
pub struct Correlation;

impl Correlation {
    /// The builder for non-default behaviour; it is itself the middleware (`.wrap(...)` it).
    ///
    /// ```
    /// # mod logiscout { pub use logiscout_core::*; pub mod actix { pub use logiscout_actix::*; } }
    /// use actix_web::http::header::HeaderName;
    /// use logiscout::actix::{Correlation, CorrelationId};
    ///
    /// let mw = Correlation::options()
    ///     .header_name(HeaderName::from_static("x-request-id"))
    ///     .trust_incoming(false)
    ///     .generator(|| CorrelationId::new(format!("req-{}", std::process::id())))
    ///     .record_all_requests(true);
    /// let app = actix_web::App::new().wrap(mw);
    /// ```
    pub fn options() -> CorrelationOptions {
        CorrelationOptions::default()
    }
}

/// [`Correlation`] with options; also the middleware (implements `Transform`).
#[derive(Clone)]
pub struct CorrelationOptions {
    header: HeaderName,
    policy: RequestPolicy,
}

impl fmt::Debug for CorrelationOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationOptions")
            .field("header", &self.header)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for CorrelationOptions {
    fn default() -> Self {
        CorrelationOptions {
            header: HeaderName::from_static(crate::DEFAULT_HEADER),
            policy: RequestPolicy::new(),
        }
    }
}

impl CorrelationOptions {
    /// The header that carries the ID in and out (default `x-correlation-id`), typed as in the tower
    /// layer: `HeaderName::from_static("x-request-id")`.
    pub fn header_name(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Whether a valid incoming ID and `traceparent` are kept (default `true`). With `false`, every
    /// request gets a new ID and starts a new trace, for services at a trust boundary.
    pub fn trust_incoming(mut self, trust: bool) -> Self {
        self.policy = self.policy.trust_incoming(trust);
        self
    }

    /// How new IDs are made (default: UUID v4).
    pub fn generator(
        mut self,
        generator: impl Fn() -> CorrelationId + Send + Sync + 'static,
    ) -> Self {
        self.policy = self.policy.generator(generator);
        self
    }

    /// Ships a payload for every request, even one that logged nothing (default `false`).
    pub fn record_all_requests(mut self, all: bool) -> Self {
        self.policy = self.policy.record_all_requests(all);
        self
    }

    /// Whether requests carry W3C trace context (default `true`): a valid incoming `traceparent` is
    /// continued with a new span-id for the request, otherwise a new trace starts; every record of the
    /// request carries the trace-id and span-id. Without an `x-correlation-id`, a valid incoming
    /// `traceparent`'s trace-id is also the correlation ID. See
    /// [`RequestPolicy`](logiscout_core::middleware::RequestPolicy) for the rules.
    pub fn trace_context(mut self, on: bool) -> Self {
        self.policy = self.policy.trace_context(on);
        self
    }
}

type Respond<B> = ServiceResponse<CorrelatedMessageBody<B>>;

// `Correlation` (the defaults, `.wrap(Correlation)`) and `CorrelationOptions` (configured) are both actix
// `Transform`s; the first delegates to the second, but the trait's five associated types must be spelled
// out in each impl: the two blocks below are alike on purpose.
impl<S, B> Transform<S, ServiceRequest> for Correlation
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = Respond<B>;
    type Error = Error;
    type Transform = CorrelationMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        CorrelationOptions::default().new_transform(service)
    }
}

impl<S, B> Transform<S, ServiceRequest> for CorrelationOptions
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = Respond<B>;
    type Error = Error;
    type Transform = CorrelationMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CorrelationMiddleware {
            service: Rc::new(service),
            options: Rc::new(self.clone()),
        }))
    }
}

/// The service made by [`Correlation`] / [`CorrelationOptions`].
pub struct CorrelationMiddleware<S> {
    service: Rc<S>,
    options: Rc<CorrelationOptions>,
}

impl<S> fmt::Debug for CorrelationMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationMiddleware")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for CorrelationMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = Respond<B>;
    type Error = Error;
    type Future = CorrelationResponse<S::Future, B>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let options = &*self.options;
        let headers = req.headers();
        let mut incoming_values = headers.get_all(&options.header);
        let incoming_value = incoming_values.next();
        let incoming = IncomingRequest::new(req.method().as_str(), req.path())
            .correlation_header(incoming_value.map(HeaderValue::as_bytes))
            .traceparent(headers.get(&TRACEPARENT).map(HeaderValue::as_bytes));
        let ctx = options.policy.start(incoming);
        let id = ctx.correlation_id();
        // The request's own header is the ID (its only value): the request stays as it is, and the response
        // echoes that value (a reference-counted clone, no copy).
        let incoming_value_seen = incoming_value.is_some();
        let kept = incoming_value
            .filter(|v| header_is_id(v.as_bytes(), incoming_values.next().is_none(), id))
            .cloned();
        let value = match kept {
            Some(value) => value,
            None => {
                let value = header_value(id);
                let headers = req.headers_mut();
                if incoming_value_seen {
                    // Replaces every value the request brought.
                    headers.insert(options.header.clone(), value.clone());
                } else {
                    // Not there yet: nothing to replace (cheaper than `insert`, which hands back what it replaced).
                    headers.append(options.header.clone(), value.clone());
                }
                value
            }
        };
        req.extensions_mut().insert(id.clone());
        let guard = RequestGuard::new(ctx.clone());
        // The handler's synchronous part runs in the scope too.
        let inner = correlation::sync_scope(ctx.clone(), || self.service.call(req));
        CorrelationResponse {
            inner: Scoped::new(Some(ctx), inner),
            guard,
            header: options.header.clone(),
            value,
            _body: PhantomData,
        }
    }
}

/// The ID as a header value for the request and the response: one buffer, shared by both (a clone is a
/// reference count, where a copied value's first clone allocated again).
fn header_value(id: &CorrelationId) -> HeaderValue {
    // `start` returns valid IDs only (ASCII from a safe alphabet): the fallback is never taken.
    HeaderValue::from_maybe_shared(Bytes::from_owner(id.clone()))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

pin_project_lite::pin_project! {
    /// The response future of [`CorrelationMiddleware`]: runs the inner service's future in the
    /// correlation scope, echoes the ID on the response (error responses too), and records the request's
    /// end.
    ///
    /// Dropped before a response, its guard records the end: 500 while a panic unwinds, 499 otherwise
    /// (the client went away, as nginx logs it).
    pub struct CorrelationResponse<F, B> {
        #[pin]
        inner: Scoped<F>,
        guard: RequestGuard,
        header: HeaderName,
        value: HeaderValue,
        _body: PhantomData<fn() -> B>,
    }
}

impl<F, B> fmt::Debug for CorrelationResponse<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationResponse")
            .field("header", &self.header)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl<F, B> Future for CorrelationResponse<F, B>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
    B: MessageBody,
{
    type Output = Result<Respond<B>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Poll::Ready(result) = this.inner.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        match result {
            Ok(response) => {
                this.guard.record(response.status().as_u16());
                let ctx = this.inner.context().cloned();
                let mut response =
                    response.map_body(|_, body| CorrelatedMessageBody::new(body, ctx));
                response
                    .headers_mut()
                    .insert(this.header.clone(), this.value.clone());
                Poll::Ready(Ok(response))
            }
            Err(err) => {
                // An error no handler turned into a response: the response actix will send for it is made
                // here, so it carries the ID and its status is recorded.
                let mut response = err.error_response();
                response
                    .headers_mut()
                    .insert(this.header.clone(), this.value.clone());
                this.guard.record(response.status().as_u16());
                let err = actix_web::error::InternalError::from_response(err, response);
                Poll::Ready(Err(err.into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpResponse};

    use super::Correlation;

    #[actix_web::test]
    async fn an_error_from_inner_middleware_still_carries_the_id() {
        let app = test::init_service(
            App::new()
                .wrap_fn(|_req, _srv| async {
                    Err::<actix_web::dev::ServiceResponse, _>(actix_web::error::ErrorForbidden(
                        "not you",
                    ))
                })
                .wrap(Correlation)
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        let req = test::TestRequest::get()
            .uri("/")
            .insert_header(("x-correlation-id", "err-id-1"))
            .to_request();
        let err = test::try_call_service(&app, req).await.unwrap_err();
        let resp = err.error_response();
        assert_eq!(resp.status().as_u16(), 403);
        assert_eq!(resp.headers().get("x-correlation-id").unwrap(), "err-id-1");
    }

    #[actix_web::test]
    async fn the_extractor_is_what_the_extensions_hold() {
        // One `CorrelationId` type: the handler's argument and `req.extensions().get::<CorrelationId>()`
        // (the pitfall of a separate extractor type, always `None`) see the same ID.
        async fn both(req: actix_web::HttpRequest, id: crate::CorrelationId) -> HttpResponse {
            use actix_web::HttpMessage as _;
            let stored = req.extensions().get::<crate::CorrelationId>().cloned();
            HttpResponse::Ok().body(format!(
                "{id} {}",
                stored.expect("stored by the middleware")
            ))
        }
        let app =
            test::init_service(App::new().wrap(Correlation).route("/", web::get().to(both))).await;
        let req = test::TestRequest::get()
            .uri("/")
            .insert_header(("x-correlation-id", "same-id-1"))
            .to_request();
        let body = test::call_and_read_body(&app, req).await;
        assert_eq!(body, "same-id-1 same-id-1");
    }

    #[actix_web::test]
    async fn the_request_holds_the_one_id_once() {
        async fn values(req: actix_web::HttpRequest) -> HttpResponse {
            let all: Vec<&str> = req
                .headers()
                .get_all("x-correlation-id")
                .map(|v| v.to_str().unwrap())
                .collect();
            HttpResponse::Ok().body(all.join(","))
        }
        let app = test::init_service(
            App::new()
                .wrap(Correlation)
                .route("/", web::get().to(values)),
        )
        .await;
        for (incoming, want) in [
            (&["dup-1", "dup-2"][..], Some("dup-1")),
            (&["bad id", "ok-2"][..], None),
            (&["one-1"][..], Some("one-1")),
            (&[][..], None),
        ] {
            let mut req = test::TestRequest::get().uri("/");
            for v in incoming {
                req = req.append_header(("x-correlation-id", *v));
            }
            let resp = test::call_service(&app, req.to_request()).await;
            let echoed = resp
                .headers()
                .get("x-correlation-id")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            match want {
                Some(want) => assert_eq!(echoed, want),
                None => assert_eq!(echoed.len(), 36, "a UUID"),
            }
            let seen = test::read_body(resp).await;
            assert_eq!(seen, echoed, "{incoming:?}");
        }
    }

    #[actix_web::test]
    async fn invalid_incoming_values_are_replaced() {
        let app = test::init_service(
            App::new()
                .wrap(Correlation)
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        for bad in ["has space", &"x".repeat(129), "a\"b"] {
            let req = test::TestRequest::get()
                .uri("/")
                .insert_header(("x-correlation-id", bad))
                .to_request();
            let resp = test::call_service(&app, req).await;
            let echoed = resp
                .headers()
                .get("x-correlation-id")
                .unwrap()
                .to_str()
                .unwrap();
            assert_ne!(echoed, bad);
            assert_eq!(echoed.len(), 36);
        }
    }
}
