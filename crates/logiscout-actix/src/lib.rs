//! Request correlation for [actix-web](https://docs.rs/actix-web): `App::new().wrap(Correlation)`.
//!
//! Every request gets a correlation ID — the incoming `x-correlation-id` header when it is valid, a new
//! UUID otherwise — and its handler and streaming response body run inside that correlation scope, so
//! every `log` record emitted while serving it carries the ID. The ID is echoed on every response (error
//! responses too) and available to handlers through the [`CorrelationId`] extractor; in `Env::Prod`, the
//! request's method, path, status and duration go into its payload. The same rules as
//! `logiscout-tower`'s `CorrelationLayer`.
//!
//! ```
//! use actix_web::{web, App, HttpResponse};
//! use logiscout_actix::{Correlation, CorrelationId};
//!
//! async fn hello(id: CorrelationId) -> HttpResponse {
//!     log::info!(greeting = "hello"; "Saying hello"); // carries the request's correlation ID
//!     HttpResponse::Ok().body(format!("hello from {id}"))
//! }
//!
//! let app = App::new().wrap(Correlation).route("/", web::get().to(hello));
//! ```
//!
//! Blocking work keeps the ID with [`block`] (or `web::block` around
//! `logiscout::correlation::sync_scope`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod body;
mod extract;
mod middleware;

pub use body::CorrelatedBody;
pub use extract::CorrelationId;
pub use middleware::{Correlation, CorrelationMiddleware, CorrelationOptions};

use logiscout_core::correlation;

/// The default header: `x-correlation-id`.
pub const DEFAULT_HEADER: &str = "x-correlation-id";

/// `actix_web::web::block`, with the caller's correlation context carried into the blocking thread.
///
/// ```
/// # #[actix_web::main] async fn main() {
/// let n = logiscout_actix::block(|| {
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
