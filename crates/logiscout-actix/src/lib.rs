//! Request correlation for [actix-web](https://docs.rs/actix-web): `App::new().wrap(Correlation)`. In the
//! `logiscout` crate this is `logiscout::actix` (feature `actix`); the examples use that path.
//!
//! Every request gets a correlation ID — the incoming `x-correlation-id` header when it is valid, a new
//! UUID otherwise — and its handler and streaming response body run inside that correlation scope, so
//! every `log` record emitted while serving it carries the ID. The ID is echoed on every response (error
//! responses too); in `Env::Prod`, the request's method, path, status and duration go into its payload.
//! The same rules as `logiscout::tower::CorrelationLayer`.
//!
//! ```
//! # mod logiscout { pub use logiscout_core::*; pub mod actix { pub use logiscout_actix::*; } }
//! use actix_web::{web, App, HttpResponse};
//! use logiscout::actix::{Correlation, CorrelationId};
//!
//! async fn hello(id: CorrelationId) -> HttpResponse {
//!     log::info!(greeting = "hello"; "Saying hello"); // carries the request's correlation ID
//!     HttpResponse::Ok().body(format!("hello from {id}"))
//! }
//!
//! let app = App::new().wrap(Correlation).route("/", web::get().to(hello));
//! ```
//!
//! [`CorrelationId`] is the one correlation ID type (`logiscout::correlation::CorrelationId`, re-exported):
//! it is the handlers' extractor, and what the middleware stores in the request's extensions, so
//! `req.extensions().get::<CorrelationId>()` finds it too. [`Correlation::options`] changes the header,
//! whether incoming IDs are trusted, how new ones are made, and whether every request is recorded.
//!
//! Blocking work keeps the ID with [`block`] (or `web::block` around
//! `logiscout::correlation::sync_scope`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod body;
mod middleware;

pub use body::CorrelatedMessageBody;
/// The correlation ID (the one type of `logiscout_core::correlation`, re-exported): the middleware stores it
/// in the request's extensions, and it is the handlers' extractor.
pub use logiscout_core::correlation::CorrelationId;
/// `x-correlation-id`, the default header (`logiscout_core::correlation::DEFAULT_HEADER`, re-exported).
pub use logiscout_core::correlation::DEFAULT_HEADER;
pub use middleware::{Correlation, CorrelationMiddleware, CorrelationOptions, CorrelationResponse};

use logiscout_core::correlation;

/// `actix_web::web::block`, with the caller's correlation context carried into the blocking thread.
///
/// ```
/// # mod logiscout { pub mod actix { pub use logiscout_actix::*; } }
/// # #[actix_web::main] async fn main() {
/// let n = logiscout::actix::block(|| {
///     log::info!("runs on the blocking pool, with the request's correlation ID");
///     42
/// })
/// .await
/// .unwrap();
/// assert_eq!(n, 42);
/// # }
/// ```
pub async fn block<F, R>(f: F) -> Result<R, actix_web::error::BlockingError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match correlation::current_context() {
        Some(ctx) => actix_web::web::block(move || correlation::sync_scope(ctx, f)).await,
        None => actix_web::web::block(f).await,
    }
}
