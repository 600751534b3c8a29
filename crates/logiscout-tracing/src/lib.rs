//! A [`tracing_subscriber::Layer`] that ships `tracing` events through logiscout: the same pipeline,
//! wire entry, correlation and accounting as `log` records (one `logiscout::init`, one worker, one
//! `stats()`, one guard).
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let _guard = logiscout_core::init(logiscout_core::Config::new("my-service"))?;
//! let subscriber = tracing_subscriber::registry().with(logiscout_tracing::layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("checkout", order_id = 42);
//!     let _entered = span.enter();
//!     tracing::info!(items = 3, total = 19.5, "Order placed"); // metadata: order_id, items, total
//! });
//! # Ok::<(), logiscout_core::Error>(())
//! ```
//!
//! An event becomes the wire entry a `log` record does:
//! - its message (the `message` field), its level (TRACE and DEBUG → `debug`; an ERROR event with a
//!   `critical = true` field → `critical`), its target as `loggerName`;
//! - its fields with their types (integers, floats, bools, strings; `?` and `%` values as strings), an
//!   error value (`error = &err as &dyn Error`) as its message in `metadata` and `exception.traceback`
//!   with its `source()` chain;
//! - the fields of every span in its scope, root to leaf (inner spans win over outer ones, the event's
//!   own fields over all), including those recorded later with `Span::record` and the arguments of
//!   `#[instrument]`;
//! - the correlation ID of the request (`CorrelationLayer`, actix's middleware, `correlation::scope`)
//!   it was emitted in, or none outside requests;
//! - `send = false` keeps it on the host.
//!
//! Nothing is printed by this layer by default: in a tracing app the `fmt` layer prints, so nothing is
//! printed twice ([`LogiscoutLayer::with_console`] turns logiscout's console on for these events).
//! Events emitted on logiscout's own worker thread (reqwest, hyper, rustls) are never shipped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod fields;

use std::fmt;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use fields::{FieldSet, Fields};

/// The layer: `tracing_subscriber::registry().with(logiscout_tracing::layer())`.
pub fn layer() -> LogiscoutLayer {
    LogiscoutLayer { console: false }
}

/// Ships tracing events through logiscout; made by [`layer`].
#[derive(Debug, Clone)]
pub struct LogiscoutLayer {
    console: bool,
}

impl LogiscoutLayer {
    /// Also prints these events on logiscout's console (default `false`: the `fmt` layer prints).
    pub fn with_console(mut self, on: bool) -> Self {
        self.console = on;
        self
    }
}

impl<S> Layer<S> for LogiscoutLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = FieldSet::default();
        attrs.record(&mut Fields(&mut fields));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<FieldSet>() {
            Some(fields) => values.record(&mut Fields(fields)),
            None => {
                let mut fields = FieldSet::default();
                values.record(&mut Fields(&mut fields));
                extensions.insert(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Never our own worker's (reqwest, hyper, rustls): no feedback loop.
        if logiscout_core::__private::on_worker_thread() {
            return;
        }
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => log::Level::Error,
            Level::WARN => log::Level::Warn,
            Level::INFO => log::Level::Info,
            Level::DEBUG => log::Level::Debug,
            Level::TRACE => log::Level::Trace,
        };
        if !logiscout_core::__private::enabled(level, meta.target()) {
            return;
        }
        let mut own = FieldSet::default();
        event.record(&mut Fields(&mut own));
        // Root to leaf, so that inner spans overwrite outer ones; the event's fields last.
        let mut merged = FieldSet::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FieldSet>() {
                    merged.merge(fields);
                }
            }
        }
        let message = own.take_message();
        merged.merge(&own);
        let critical = level == log::Level::Error && merged.take_bool("critical") == Some(true);
        let kvs = merged.as_source();
        let args = format_args!("{}", Message(message.as_deref()));
        let record = log::Record::builder()
            .args(args)
            .level(level)
            .target(meta.target())
            .module_path(meta.module_path())
            .file(meta.file())
            .line(meta.line())
            .key_values(&kvs)
            .build();
        logiscout_core::__private::log_from_layer(&record, critical, self.console);
    }
}

/// The event's message, or nothing.
struct Message<'a>(Option<&'a str>);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.unwrap_or_default())
    }
}
