#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use logiscout_core::*;

#[cfg(feature = "tower")]
#[doc(inline)]
pub use logiscout_tower as tower;

#[cfg(feature = "actix")]
#[doc(inline)]
pub use logiscout_actix as actix;

#[cfg(feature = "tracing")]
#[doc(inline)]
pub use logiscout_tracing as tracing;
