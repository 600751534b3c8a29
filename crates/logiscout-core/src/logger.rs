//! The `log::Log` implementation: filter → context → console → queue. Thin on purpose: the work happens in
//! the rooms it calls.

use std::cell::Cell;
use std::sync::{Arc, OnceLock};

use log::{Log, Metadata, Record};

use crate::bind::take_critical;
use crate::config::Config;
use crate::console::ConsoleSink;
use crate::context;
use crate::encode::record::{Timestamp, WireLevel};
use crate::error::Error;
use crate::filter::SwapFilter;
use crate::ship::{self as worker, Shipper};

pub(crate) struct Logger {
    /// Replaced whole by [`set_filter`](crate::set_filter); a log call reads it without a lock.
    filter: SwapFilter,
    console: ConsoleSink,
    service: Arc<str>,
    /// Set right after the logger is installed, in `Env::Prod` only.
    pub(crate) shipper: OnceLock<Shipper>,
}

thread_local! {
    /// How many records this thread is inside of (a `Display` impl that logs nests one level).
    static DEPTH: Cell<u8> = const { Cell::new(0) };
}

/// Records nested deeper than this (logging from a value's `Display`, which logs, which…) are dropped.
const MAX_DEPTH: u8 = 2;

struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        DEPTH
            .try_with(|d| {
                let now = d.get();
                if now >= MAX_DEPTH {
                    None
                } else {
                    d.set(now + 1);
                    Some(DepthGuard)
                }
            })
            .ok()
            .flatten()
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl Logger {
    pub(crate) fn new(config: &Config) -> Result<Logger, Error> {
        Ok(Logger {
            filter: SwapFilter::new(config.build_filter()?),
            console: ConsoleSink::new(
                config.console,
                config.console_writer.clone(),
                config.max_string_bytes,
                config.record_cap(),
            ),
            service: Arc::from(config.service_name.as_str()),
            shipper: OnceLock::new(),
        })
    }

    pub(crate) fn max_level(&self) -> log::LevelFilter {
        self.filter.with(env_filter::Filter::filter)
    }

    /// Filters the records of the next log calls with `filter`, and moves `log::max_level` with it.
    pub(crate) fn set_filter(&self, filter: env_filter::Filter) {
        self.filter
            .replace(filter, |now| log::set_max_level(now.filter()));
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.with(|f| f.enabled(metadata))
    }

    fn log(&self, record: &Record<'_>) {
        self.log_record(record, take_critical(), true);
    }

    fn flush(&self) {
        self.console.flush();
    }
}

impl Logger {
    /// The pipeline of one record: filter → context → console (when `console`) → queue. `log` records
    /// and the tracing layer's events both come through here.
    pub(crate) fn log_record(&self, record: &Record<'_>, critical: bool, console: bool) {
        if !self.filter.with(|f| f.matches(record)) {
            return;
        }
        let Some(_depth) = DepthGuard::enter() else {
            return;
        };
        let level = WireLevel::from_log(record.level(), critical);
        let ts = Timestamp::now();
        let context::ForLog {
            id: correlation,
            trace,
            unannounced,
        } = context::current_for_log();
        #[cfg(feature = "testing")]
        if crate::testing::is_active() {
            crate::testing::offer(record, level, correlation.as_ref());
        }
        if console && self.console.is_on() {
            self.console
                .write(record, level, ts, correlation.as_ref(), &self.service);
        }
        if let Some(shipper) = self.shipper.get() {
            // Records from our own worker thread (reqwest, hyper, rustls) are never shipped: no feedback loop.
            // `send = false` records are left out by `enqueue`, which sees every key anyway.
            if !worker::on_worker_thread() {
                if unannounced {
                    // The first log of a request tells the worker about the request: the start rides
                    // with the log.
                    context::with_current(|ctx| {
                        shipper.enqueue_first(record, level, ts, correlation, trace, ctx);
                    });
                } else {
                    shipper.enqueue(record, level, ts, correlation, trace);
                }
            }
        }
    }
}

static LOGGER: OnceLock<&'static Logger> = OnceLock::new();

/// The installed logiscout logger, if `init` succeeded.
pub(crate) fn installed() -> Option<&'static Logger> {
    LOGGER.get().copied()
}

/// Installs `logger` as the `log` backend.
pub(crate) fn install(logger: Logger) -> Result<&'static Logger, Error> {
    let max = logger.max_level();
    let logger: &'static Logger = Box::leak(Box::new(logger));
    if log::set_logger(logger).is_err() {
        // Another backend holds the `log` slot: nothing of this logger may keep running.
        if let Some(shipper) = logger.shipper.get() {
            shipper.stop_quietly();
        }
        return Err(Error::AlreadyInitialized);
    }
    log::set_max_level(max);
    let _ = LOGGER.set(logger);
    Ok(logger)
}
