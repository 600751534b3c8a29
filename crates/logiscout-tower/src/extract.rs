use std::convert::Infallible;
use std::ops::Deref;

use axum_core::extract::FromRequestParts;
use http::request::Parts;
use logiscout_core::correlation;

/// The request's correlation ID, as an axum extractor.
///
/// ```
/// use logiscout_tower::CorrelationId;
///
/// async fn handler(id: CorrelationId) -> String {
///     format!("your request is {id}")
/// }
/// # let _ = axum::Router::<()>::new().route("/", axum::routing::get(handler));
/// ```
///
/// It reads the ID that [`CorrelationLayer`](crate::CorrelationLayer) put in the request's extensions
/// (where `req.extensions().get::<logiscout::correlation::CorrelationId>()` finds it too); without the
/// layer, the current correlation scope's ID, or a new one.
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

impl<S: Send + Sync> FromRequestParts<S> for CorrelationId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .extensions
            .get::<correlation::CorrelationId>()
            .cloned()
            .or_else(correlation::current)
            .unwrap_or_else(correlation::CorrelationId::generate);
        Ok(CorrelationId(id))
    }
}
