//! # logiscout
//!
//! Structured, correlated, batched logging for Rust services: a [`log`](https://docs.rs/log) backend for the
//! LogiScout ingest platform, the Rust sibling of the Python `logiscout-logger`.
//!
//! ```
//! let _guard = logiscout::init(
//!     logiscout::Config::new("my-service"), // Env::Dev: console only
//! )?;
//! log::info!(user_id = 123; "User logged in");
//! log::warn!(current = 95, limit = 100; "Rate limit approaching");
//! log::info!(send = false, token = "secret"; "Password reset token generated"); // never shipped
//! logiscout::critical!(order_id = "abc"; "Payment system down");
//! let user_log = logiscout::bind!(user_id = 123, session_id = "abc");
//! log::info!(logger: user_log, action = "click"; "User action");
//! # Ok::<(), logiscout::Error>(())
//! ```
//!
//! See the README for configuration, delivery semantics and the mapping from the Python client.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use logiscout_core::*;

/// Request correlation for tower services (axum, hyper, tonic); feature `tower` (`axum` adds the
/// extractor).
#[cfg(feature = "tower")]
pub mod tower {
    pub use logiscout_tower::*;
}

/// Request correlation for actix-web; feature `actix`.
#[cfg(feature = "actix")]
pub mod actix {
    pub use logiscout_actix::*;
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
