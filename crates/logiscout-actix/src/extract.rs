use std::convert::Infallible;
use std::future::{ready, Ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use logiscout_core::correlation;

/// The request's correlation ID, as an actix-web extractor.
///
/// It reads the ID that [`Correlation`](crate::Correlation) put in the request's extensions (where
/// `req.extensions().get::<logiscout::correlation::CorrelationId>()` finds it too); without the
/// middleware, the current scope's ID, or a new one.
///
/// ```
/// use logiscout_actix::CorrelationId;
///
/// async fn handler(id: CorrelationId) -> String {
///     format!("your request is {id}")
/// }
/// # let _ = actix_web::App::new().route("/", actix_web::web::get().to(handler));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(pub correlation::CorrelationId);

impl Deref for CorrelationId {
    type Target = correlation::CorrelationId;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for CorrelationId {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<correlation::CorrelationId>()
            .cloned()
            .or_else(correlation::current)
            .unwrap_or_else(correlation::CorrelationId::generate);
        ready(Ok(CorrelationId(id)))
    }
}
