//! Request correlation for [tower](https://docs.rs/tower) services: axum, hyper, tonic. In the `logiscout`
//! crate this is `logiscout::tower` (features `tower`, `axum`, `tower-http`); the examples use that path.
//!
//! [`CorrelationLayer`] gives every request a correlation ID — the incoming `x-correlation-id` header when
//! it is valid, a new UUID otherwise — and runs the request (and its streaming response body) inside that
//! correlation scope, so every `log` record emitted while serving it carries the ID. The ID is put in the
//! request's headers and extensions and echoed on the response; in `Env::Prod`, the request's method,
//! path, status and duration go into its payload.
//!
//! ```
//! # mod logiscout { pub use logiscout_core::*; pub mod tower { pub use logiscout_tower::*; } }
//! use axum::{routing::get, Router};
//! use logiscout::tower::{CorrelationId, CorrelationLayer};
//!
//! async fn hello(id: CorrelationId) -> String {
//!     log::info!(greeting = "hello"; "Saying hello"); // carries the request's correlation ID
//!     format!("hello, request {id}")
//! }
//!
//! let app: Router = Router::new()
//!     .route("/", get(hello))
//!     .layer(CorrelationLayer::new());
//! ```
//!
//! [`CorrelationId`] is the one correlation ID type (`logiscout::correlation::CorrelationId`, re-exported):
//! with the `axum` feature it is a handler argument, and the layer stores it in the request's extensions,
//! so `req.extensions().get::<CorrelationId>()` finds it too (in hyper or tonic services).
//!
//! [`PropagateCorrelationLayer`] is for clients: it adds the current ID to outgoing requests.
//!
//! ## With tower-http's request IDs (feature `tower-http`)
//!
//! Where tower-http's `SetRequestIdLayer` runs before `CorrelationLayer`, the `RequestId` it set (or found
//! on the request) becomes the request's correlation ID, so the response's `x-request-id`, `TraceLayer`
//! spans and the shipped logs share one ID:
//!
//! ```
//! # mod logiscout { pub use logiscout_core::*; pub mod tower { pub use logiscout_tower::*; } }
//! use axum::{http::Request, routing::get, Router};
//! use logiscout::tower::CorrelationLayer;
//! use tower::ServiceBuilder;
//! use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
//! use tower_http::trace::TraceLayer;
//!
//! let app: Router = Router::new().route("/", get(|| async { log::info!("hello"); "hello" })).layer(
//!     ServiceBuilder::new()
//!         .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
//!         .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
//!             let id = req.extensions().get::<RequestId>().map(|id| id.header_value().clone());
//!             tracing::info_span!("request", request_id = ?id)
//!         }))
//!         .layer(CorrelationLayer::new()) // the logs carry the RequestId
//!         .layer(PropagateRequestIdLayer::x_request_id()),
//! );
//! ```
//!
//! A `RequestId` that is not a valid correlation ID (1–128 bytes of `A-Z a-z 0-9 . _ : -`) is not used:
//! the request gets an ID of its own, as with an invalid `x-correlation-id`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod body;
mod future;
mod layer;
mod propagate;
mod service;

pub use body::CorrelatedBody;
pub use future::ResponseFuture;
pub use layer::CorrelationLayer;
/// The correlation ID (the one type of `logiscout_core::correlation`, re-exported): the layer stores it in
/// the request's extensions, and with the `axum` feature it is also the handlers' extractor.
pub use logiscout_core::correlation::CorrelationId;
/// `x-correlation-id`, the default header (`logiscout_core::correlation::DEFAULT_HEADER`, re-exported).
pub use logiscout_core::correlation::DEFAULT_HEADER;
pub use propagate::{PropagateCorrelation, PropagateCorrelationLayer};
pub use service::CorrelationService;
