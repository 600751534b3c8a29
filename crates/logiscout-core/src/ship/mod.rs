//! Shipping: from the log call's captured record to the ingest endpoint's 2xx, across one thread
//! boundary.
//!
//! ```text
//!  app threads (never block, never do I/O)      │  worker thread "logiscout-worker" (its own runtime)
//!                                               │
//!  handle.rs   Shipper::enqueue                 │  worker_loop.rs  drain ─► render ─► Batcher
//!              capture into a pooled buffer,    │                  spawn a delivery per batch due,
//!              byte cap, bounded try_send ──────┼──► queue.rs      answer flush fences, shut down
//!              request start / end, flush fence │   (Event)            │
//!              flush, shutdown ─── Control ─────┼──►                   ▼
//!                                               │  delivery.rs     encode, Transport::send, retry with
//!  pool.rs     capture buffers ◄── in bundles ──┼── spent captures  backoff, split on 413, settle every
//!                                               │                  log as sent or dropped
//!  stats.rs    Counters: written on both sides; Stats / FlushReport snapshots for users
//!  report.rs   Reporter: rate-limited stderr lines (never through `log`), from both sides
//! ```
//!
//! Data flows one way, app to worker; what comes back is only buffers (the pools), answers to flushes and
//! shutdown (channels of their own) and the counters. Records made on the worker thread are never
//! shipped ([`on_worker_thread`]).
//!
//! The files are layered, each importing only those above it in this list: `stats`, `settings`, `pool`
//! (the bottom, importing nothing of `ship/`), `report` (the counters), `queue` (what crosses the
//! boundary and [`Shared`](queue::Shared), the state both sides hold), `delivery`, `worker_loop`, and
//! `handle` on top, which starts the worker thread. The end-to-end tests are in `tests/`.

pub(crate) mod batch;
mod delivery;
mod handle;
mod pool;
mod queue;
mod report;
mod settings;
mod stats;
pub(crate) mod transport;
mod worker_loop;

#[cfg(test)]
pub(crate) mod tests;

pub(crate) use handle::Shipper;
pub(crate) use settings::WorkerSettings;
pub use stats::{FlushReport, Stats};
pub(crate) use worker_loop::on_worker_thread;
