//! Request correlation for [tower](https://docs.rs/tower) services: axum, hyper, tonic.
//!
//! [`CorrelationLayer`] gives every request a correlation ID — the incoming `x-correlation-id` header when
//! it is valid, a new UUID otherwise — and runs the request (and its streaming response body) inside that
//! correlation scope, so every `log` record emitted while serving it carries the ID. The ID is put in the
//! request's headers and extensions and echoed on the response; in `Env::Prod`, the request's method,
//! path, status and duration go into its payload.
//!
//! ```
//! use axum::{routing::get, Router};
//! use logiscout_tower::CorrelationLayer;
//!
//! async fn hello() -> &'static str {
//!     log::info!(greeting = "hello"; "Saying hello"); // carries the request's correlation ID
//!     "hello"
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(hello))
//!     .layer(CorrelationLayer::new());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod body;
#[cfg(feature = "axum")]
mod extract;
mod future;
mod layer;
mod propagate;
mod service;

pub use body::CorrelatedBody;
#[cfg(feature = "axum")]
pub use extract::CorrelationId;
pub use future::ResponseFuture;
pub use layer::CorrelationLayer;
pub use propagate::{PropagateCorrelation, PropagateCorrelationLayer};
pub use service::Correlation;

/// The default header: `x-correlation-id`.
pub const DEFAULT_HEADER: http::HeaderName = http::HeaderName::from_static("x-correlation-id");
