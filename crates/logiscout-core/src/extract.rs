//! [`CorrelationId`] as a request extractor for axum (feature `axum`) and actix-web (feature `actix`).
//!
//! The impls live here, beside the type, because the orphan rules forbid `logiscout-tower` and
//! `logiscout-actix` from implementing a framework's trait for a type of another crate. So the extractor
//! *is* the ID the middleware stores in the request's extensions: there is one `CorrelationId` type, and
//! `req.extensions().get::<CorrelationId>()` finds what the handler's `CorrelationId` argument gets.

use crate::context::{self, CorrelationId};

/// The request's ID: what the middleware stored in its extensions; else the current correlation scope's;
/// else a new one.
fn from_extension(stored: Option<&CorrelationId>) -> CorrelationId {
    stored
        .cloned()
        .or_else(context::current)
        .unwrap_or_else(CorrelationId::generate)
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(from_extension(parts.extensions.get::<CorrelationId>()))
    }
}

#[cfg(feature = "actix")]
impl actix_web::FromRequest for CorrelationId {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(
        req: &actix_web::HttpRequest,
        _payload: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        use actix_web::HttpMessage as _;
        std::future::ready(Ok(from_extension(req.extensions().get::<CorrelationId>())))
    }
}
