//! The core of [logiscout](https://docs.rs/logiscout): a [`log`] backend that captures key-values, keeps
//! the correlation ID of the request being served, prints to the console, and in [`Env::Prod`] ships
//! records in batches to the LogiScout ingest endpoint.
//!
//! Most users depend on the `logiscout` crate, which re-exports everything here.
//!
//! ```
//! let _guard = logiscout_core::init(logiscout_core::Config::new("my-service"))?;
//! log::info!(user_id = 123; "User logged in");
//! logiscout_core::critical!(order_id = "abc"; "Payment system down");
//! # Ok::<(), logiscout_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod bind;
mod config;
mod console;
mod context;
mod encode;
mod error;
#[cfg(any(feature = "axum", feature = "actix"))]
mod extract;
mod filter;
mod logger;
mod protocol;
mod ship;
mod trace;

use std::sync::Arc;
use std::time::Duration;

pub use bind::BoundLogger;
pub use config::{Config, Console, Env};
pub use encode::record::{FieldValue, WireLevel};
pub use error::Error;
pub use protocol::Protocol;
pub use ship::{FlushReport, Stats};

/// Correlation IDs and the context that carries them through async and sync code.
pub mod correlation {
    pub use crate::context::{
        current, current_context, current_trace, scope, sync_scope, Context, CorrelationId,
        FutureExt, InvalidCorrelationId, RequestInfo, Scoped, DEFAULT_HEADER,
        MAX_CORRELATION_ID_LEN,
    };
    pub use crate::trace::{TraceContext, TRACEPARENT_HEADER};
}

#[cfg(feature = "testing")]
pub mod testing;

pub mod middleware;

/// `logiscout-rust/<version>`: the `User-Agent` and `batch_metadata.sdk`.
pub const SDK: &str = concat!("logiscout-rust/", env!("CARGO_PKG_VERSION"));

/// Installs logiscout as the `log` backend and, in [`Env::Prod`], starts the shipping worker.
///
/// Keep the returned [`Guard`] alive for the life of the program: dropping it flushes what is waiting
/// (up to [`Config::shutdown_timeout`]) and stops the worker.
///
/// `init(Config::default())` is the plain console logger: no token, no network.
///
/// # Errors
/// A logger is already installed; `Env::Prod` without a token or endpoint; an `http://` endpoint on a host
/// other than loopback without [`Config::allow_insecure_http`]; an endpoint URL with credentials
/// (`user:password@`); a filter that does not parse or names a level that does not exist (see
/// [`Config::filter`]); a setting out of range. Never panics.
///
/// ```
/// let guard = logiscout_core::init(logiscout_core::Config::new("docs").console(logiscout_core::Console::Off))?;
/// log::info!(user_id = 123; "User logged in");
/// // A second backend cannot be installed:
/// assert!(matches!(
///     logiscout_core::init(logiscout_core::Config::new("again")),
///     Err(logiscout_core::Error::AlreadyInitialized)
/// ));
/// drop(guard);
/// # Ok::<(), logiscout_core::Error>(())
/// ```
pub fn init(config: Config) -> Result<Guard, Error> {
    let endpoint = config.validate()?;
    let token = config.api_token.as_ref();
    let transport = match (&endpoint, token) {
        // OTLP ships without a token too (sent as a Bearer token only when set).
        (Some(url), token) if token.is_some() || config.protocol.is_otlp() => {
            let route = ship::transport::route(url, &config.proxy_setting()?, |name| {
                std::env::var(name).ok()
            })
            .map_err(|reason| Error::InvalidSetting {
                setting: "proxy",
                reason,
            })?;
            Some(
                ship::transport::HttpTransport::with_options(
                    url.clone(),
                    token,
                    config.request_timeout,
                    config.gzip,
                    &route,
                    config.protocol,
                    config.headers.to_reqwest()?,
                )
                .map_err(|reason| Error::Transport { reason })?,
            )
        }
        _ => None,
    };
    // All or nothing: the worker starts before the logger is installed, so a worker that cannot start
    // leaves nothing installed (a later `init` can succeed), and a logger that cannot be installed
    // stops the worker it would have fed.
    let logger = logger::Logger::new(&config)?;
    if let Some(transport) = transport {
        let shipper = ship::Shipper::start(worker_settings(&config), Arc::new(transport))
            .map_err(Error::Worker)?;
        let _ = logger.shipper.set(shipper);
    }
    logger::install(logger)?;
    Ok(Guard { _private: () })
}

fn worker_settings(config: &Config) -> ship::WorkerSettings {
    ship::WorkerSettings {
        service_name: config.service_name.clone(),
        environment: config.env.as_str(),
        max_queue_logs: config.max_queue_logs,
        max_buffer_bytes: config.max_buffer_bytes,
        max_batch_logs: config.max_batch_logs,
        max_batch_bytes: config.max_batch_bytes,
        max_batch_wait: config.max_batch_wait,
        max_in_flight: config.max_in_flight,
        retry: ship::transport::RetryPolicy {
            base: config.retry_base,
            max_delay: config.retry_max_delay,
            give_up_after: config.retry_give_up,
            max_retry_after: config.max_retry_after,
        },
        max_string_bytes: config.max_string_bytes,
        max_record_bytes: config.record_cap(),
        shutdown_timeout: config.shutdown_timeout,
        diagnostics: None,
        drop_report_every: Duration::from_secs(60),
    }
}

/// Keeps shipping alive; dropping it flushes and stops the worker (waiting up to
/// [`Config::shutdown_timeout`]).
///
/// After shutdown, records still print on the console but are no longer shipped: they are counted as
/// dropped.
#[must_use = "dropping the guard at once stops shipping; keep it alive in main"]
#[derive(Debug)]
pub struct Guard {
    _private: (),
}

impl Guard {
    /// Delivers what is waiting, up to `timeout`, stops the worker, and reports what was delivered and
    /// what was not. One stderr line summarises any undelivered logs.
    pub fn shutdown(self, timeout: Duration) -> FlushReport {
        let report = shutdown_installed(timeout);
        std::mem::forget(self);
        report
    }

    /// [`shutdown`](Self::shutdown) for async code: the wait happens on a thread of its own, so the
    /// runtime's thread is never blocked, on any runtime (a current-thread one included: the worker has
    /// its own thread and runtime, and never needs the caller's).
    ///
    /// Shutdown starts when this is called, not when the future is first polled; dropping the future does
    /// not cancel it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), logiscout_core::Error> {
    /// let guard = logiscout_core::init(logiscout_core::Config::new("docs"))?;
    /// log::info!("Shutting down");
    /// let report = guard.shutdown_async(Duration::from_secs(5)).await;
    /// assert!(report.complete);
    /// # Ok(()) }
    /// ```
    pub fn shutdown_async(
        self,
        timeout: Duration,
    ) -> impl std::future::Future<Output = FlushReport> + Send + 'static {
        std::mem::forget(self);
        off_thread("logiscout-shutdown", move || shutdown_installed(timeout))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let timeout = logger::installed()
            .and_then(|l| l.shipper.get())
            .map_or(Duration::ZERO, |s| s.shutdown_timeout());
        shutdown_installed(timeout);
    }
}

fn shutdown_installed(timeout: Duration) -> FlushReport {
    let report = match logger::installed().and_then(|l| l.shipper.get()) {
        Some(shipper) => shipper.shutdown(timeout),
        None => FlushReport {
            complete: true,
            stats: Stats::default(),
        },
    };
    log::logger().flush();
    report
}

/// Waits until every record logged before this call is delivered (or dropped), at most `timeout`.
///
/// Blocks the calling thread: from async code, use [`flush_async`]. Without shipping (`Env::Dev`, no
/// `init`) it returns at once.
///
/// ```
/// use std::time::Duration;
/// let report = logiscout_core::flush(Duration::from_secs(2));
/// assert!(report.complete);
/// ```
pub fn flush(timeout: Duration) -> FlushReport {
    let report = match logger::installed().and_then(|l| l.shipper.get()) {
        Some(shipper) => shipper.flush(timeout),
        None => FlushReport {
            complete: true,
            stats: Stats::default(),
        },
    };
    log::logger().flush();
    report
}

/// [`flush`] for async code: waits until every record logged before this call is delivered (or dropped),
/// at most `timeout`, without blocking the runtime's thread.
///
/// The wait happens on a thread of its own and the future only awaits its answer, so this works on any
/// runtime, a current-thread one included (the worker has its own thread and runtime and never needs the
/// caller's), and other tasks keep running meanwhile. The flush starts when this is called, not when the
/// future is first polled; dropping the future does not cancel it.
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// log::info!(order_id = "abc"; "Order created");
/// let report = logiscout_core::flush_async(Duration::from_secs(2)).await;
/// assert!(report.complete);
/// # }
/// ```
pub fn flush_async(
    timeout: Duration,
) -> impl std::future::Future<Output = FlushReport> + Send + 'static {
    off_thread("logiscout-flush", move || flush(timeout))
}

/// Runs a blocking flush or shutdown on a new thread and returns a future of its report: nothing of the
/// caller's runtime is used (no `spawn_blocking`, no timer), so any executor can await it.
fn off_thread(
    name: &str,
    wait: impl FnOnce() -> FlushReport + Send + 'static,
) -> impl std::future::Future<Output = FlushReport> + Send + 'static {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(wait());
        })
        .is_ok();
    async move {
        let report = if started { rx.await.ok() } else { None };
        // No thread could be started (or it panicked): nothing was waited for.
        report.unwrap_or_else(|| FlushReport {
            complete: false,
            stats: stats(),
        })
    }
}

/// Changes the level filter while the program runs: from the next log call on, records are printed and
/// shipped by `directives` (`RUST_LOG` syntax, as [`Config::filter`]), and `log::max_level()` follows.
///
/// The directives are parsed and checked as `Config::filter`'s are (a bare word that reads like a level
/// and is not one, such as `verbose`, `warning` or a typo like `trce`, is refused). A log call reads the filter without a
/// lock or a shared write, for about 5 instructions (callgrind, `examples/profile_hot_path.rs`).
///
/// # Errors
/// [`Error::InvalidFilter`] when the directives are refused: the filter in force stays.
/// [`Error::NotInitialized`] before [`init`].
///
/// ```
/// use log::Level;
///
/// let _guard = logiscout_core::init(logiscout_core::Config::new("docs").read_rust_log(false))?;
/// assert!(log::log_enabled!(Level::Info));
///
/// logiscout_core::set_filter("warn,my_crate::db=debug")?;
/// assert!(!log::log_enabled!(Level::Info));
/// assert!(log::log_enabled!(target: "my_crate::db", Level::Debug));
///
/// // Refused: nothing changes.
/// assert!(logiscout_core::set_filter("verbose").is_err());
/// assert!(!log::log_enabled!(Level::Info));
/// # Ok::<(), logiscout_core::Error>(())
/// ```
pub fn set_filter(directives: &str) -> Result<(), Error> {
    let filter = Config::parse_filter("logiscout::set_filter", directives)?;
    let logger = logger::installed().ok_or(Error::NotInitialized)?;
    logger.set_filter(filter);
    Ok(())
}

/// The shipping counters (all zero in `Env::Dev` or before `init`).
///
/// ```
/// let stats = logiscout_core::stats();
/// assert_eq!(stats.logs_enqueued, stats.logs_sent + stats.logs_dropped + stats.logs_pending());
/// ```
pub fn stats() -> Stats {
    logger::installed()
        .and_then(|l| l.shipper.get())
        .map(|s| s.stats())
        .unwrap_or_default()
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bind::CriticalGuard;
    pub use log;

    /// For `logiscout-tracing`: true on logiscout's worker thread (its events are never shipped).
    pub fn on_worker_thread() -> bool {
        crate::ship::on_worker_thread()
    }

    /// For `logiscout-tracing`: whether the installed logger's filter lets a record of `level` for
    /// `target` through (false before `init`).
    pub fn enabled(level: log::Level, target: &str) -> bool {
        crate::logger::installed().is_some_and(|l| {
            log::Log::enabled(
                l,
                &log::Metadata::builder().level(level).target(target).build(),
            )
        })
    }

    /// For `logiscout-tracing`: one record through the installed logger's pipeline, whoever holds the
    /// `log` slot (tracing-log's `LogTracer` may), printed on logiscout's console only when `console`.
    pub fn log_from_layer(record: &log::Record<'_>, critical: bool, console: bool) {
        if let Some(logger) = crate::logger::installed() {
            logger.log_record(record, critical, console);
        }
    }

    /// The batcher alone, for `benches/batcher.rs`; not a public API.
    pub mod batcher {
        use std::time::{Duration, Instant};

        use crate::context::CorrelationId;
        use crate::encode::record::Timestamp;
        use crate::ship::batch::{self, LogEntry, RequestMeta};

        /// A batcher with the default caps (200 logs, 4 MiB, 30 s).
        #[derive(Debug)]
        pub struct Batcher {
            inner: batch::Batcher,
            seq: u64,
            body: Vec<u8>,
            /// Bodies of taken batches, reused as the worker's pool reuses them.
            spare: Vec<Vec<u8>>,
            /// Every request's path, in one context made up front (the worker holds a reference to
            /// the request's context, not a copy).
            path: batch::RequestPath,
        }

        impl Default for Batcher {
            fn default() -> Self {
                Batcher {
                    inner: batch::Batcher::new(
                        CorrelationId::new("bench-process"),
                        200,
                        4 << 20,
                        Duration::from_secs(30),
                    ),
                    seq: 0,
                    spare: Vec::new(),
                    path: "/".into(),
                    body: br#"{"level":"info","message":"Order created okay!!","loggerName":"bench","metadata":{"user_id":1,"ratio":0.25,"region":"eu-west-1"},"exception":null}"#.to_vec(),
                }
            }
        }

        impl Batcher {
            /// A request starts (as the worker hears of it on its first log).
            pub fn start(&mut self, id: &CorrelationId) {
                self.inner.request_started(
                    id.clone(),
                    RequestMeta {
                        method: "GET".into(),
                        path: self.path.clone(),
                        started_at: Timestamp(0),
                        status: None,
                        ended_at: None,
                        duration_ms: None,
                        record_always: false,
                    },
                );
            }

            /// One log for `id`.
            pub fn log(&mut self, id: &CorrelationId, now: Instant) {
                let seq = self.seq;
                self.seq += 1;
                let mut body = self.spare.pop().unwrap_or_default();
                body.extend_from_slice(&self.body);
                let entry = LogEntry {
                    trace: None,
                    ts: Timestamp(seq as i64),
                    body,
                    seq,
                };
                self.inner.log(Some(id.clone()), entry, now);
            }

            /// The request `id` ends.
            pub fn end(&mut self, id: &CorrelationId, now: Instant) {
                let seq = self.seq;
                self.seq += 1;
                self.inner
                    .request_finished(id, Some(200), Timestamp(1), 1.0, seq, now);
            }

            /// Takes batches while the triggers (or `force`) say so; returns the logs taken.
            pub fn take(&mut self, now: Instant, force: bool) -> usize {
                let mut logs = 0;
                while self.inner.ready(now) || (force && !self.inner.is_idle()) {
                    let Some(batch) = self.inner.take().0 else {
                        break;
                    };
                    logs += batch.log_count();
                    for part in batch.parts {
                        self.spare.extend(part.logs.into_iter().map(|l| {
                            let mut body = l.body;
                            body.clear();
                            body
                        }));
                    }
                }
                logs
            }
        }
    }

    /// The wire encoding of one record as the shipping path makes it (captured on the caller's thread,
    /// rendered on the worker's), for the fuzz targets in `fuzz/`; not a public API.
    ///
    /// Panics if it differs from the direct encoder's output (the oracle, hidden feature `__oracle`): that
    /// is the fuzz target's second check.
    #[cfg(feature = "__oracle")]
    pub fn encode_for_fuzzing(
        record: &log::Record<'_>,
        max_string_bytes: usize,
        max_record_bytes: usize,
    ) -> Vec<u8> {
        let level = crate::encode::record::WireLevel::from_log(record.level(), false);
        let mut direct = Vec::new();
        let encoded = crate::encode::oracle::encode_entry(
            &mut direct,
            record,
            level,
            None,
            max_string_bytes,
            max_record_bytes,
            None,
        );
        let mut shipped = Vec::new();
        match crate::encode::capture::capture(
            Vec::new(),
            record,
            level,
            max_string_bytes,
            max_record_bytes,
        ) {
            Ok(capture) => {
                crate::encode::capture::render(&capture, &mut shipped, max_string_bytes)
                    .expect("a capture always renders");
                assert!(encoded.is_ok(), "captured what the encoder refused");
                assert_eq!(
                    shipped, direct,
                    "capture + render differs from encode_entry"
                );
            }
            Err(_) => shipped = direct,
        }
        shipped
    }
}
