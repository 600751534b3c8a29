//! Encoding: what a record becomes on the wire, in two steps either side of the thread boundary.
//!
//! ```text
//!  app thread                         │  worker thread
//!  capture.rs  capture: copy the      │  capture.rs  render: the LogiScout format's JSON object
//!              record, no encoding ───┼──►           (the one encoder of a wire entry: the console's
//!              (capped, pooled)       │              JSON lines are rendered from a capture too)
//!                                     │  otlp.rs     render_record: OTLP `LogRecord` fields (feature
//!                                     │              `otlp`); encode: the OTLP request at send time
//!  record.rs   the wire entry's parts: level, timestamp, JSON strings and escaping, the one `cut_str`
//!              rule, the record cap, error chains, `FieldValue`
//! ```
//!
//! The batch around the entries (payload groups, request info, the LogiScout envelope) is the
//! batcher's (`ship/batch/`); `ship/` moves the bytes.

pub(crate) mod capture;
// The direct encoder, only for the tests and the fuzz target (hidden feature `__oracle`).
#[cfg(any(test, feature = "__oracle"))]
pub(crate) mod oracle;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod record;
