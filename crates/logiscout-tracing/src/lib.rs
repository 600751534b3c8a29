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
//!
//! The hot-path rules of a `log` call hold for an event: never blocks, never panics, and allocates
//! nothing in steady state (`tests/allocations.rs` counts). An event's fields are visited once into a
//! per-thread buffer that is reused; a span's fields are encoded once, when the span is created or
//! recorded, and kept in its extensions; the event hands both to the pipeline as one `log::kv::Source`
//! that borrows them, and the capture buffer the pipeline copies them into comes from its pool. An event
//! emitted while another is being recorded on the same thread (a value's `Debug` that logs) gets
//! buffers of its own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub)]

mod fields;

use std::cell::RefCell;
use std::sync::Arc;

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use fields::{Fields, Merged, Message, Recorder, Val, CRITICAL};

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

/// A span's fields, encoded once when the span is created and again on each `Span::record`. An event
/// takes a reference (no copy), so no lock is held while the event goes through the pipeline.
struct SpanFields(Arc<Fields>);

/// What an event needs while it goes through the pipeline, kept per thread so that its room is reused.
struct Scratch {
    /// The event's own fields.
    event: Fields,
    /// The fields of the spans in its scope, root to leaf (emptied after each event).
    spans: Vec<Arc<Fields>>,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            event: Fields::new(),
            spans: Vec::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// The tracing level as a `log` level.
fn log_level(level: &Level) -> log::Level {
    match *level {
        Level::ERROR => log::Level::Error,
        Level::WARN => log::Level::Warn,
        Level::INFO => log::Level::Info,
        Level::DEBUG => log::Level::Debug,
        Level::TRACE => log::Level::Trace,
    }
}

impl<S> Layer<S> for LogiscoutLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Recorder::span(&mut fields));
        if fields.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // `replace`, not `insert`: a second logiscout layer on the same registry must not panic.
        span.extensions_mut().replace(SpanFields(Arc::new(fields)));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Visited before the span's extensions are locked: a value's `Debug` may emit an event in
        // this very span, which reads them.
        let mut update = Fields::new();
        values.record(&mut Recorder::span(&mut update));
        if update.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<SpanFields>() {
            Some(SpanFields(fields)) => *fields = Arc::new(fields.updated(&update)),
            None => {
                extensions.replace(SpanFields(Arc::new(update)));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Never our own worker's (reqwest, hyper, rustls): no feedback loop.
        if logiscout_core::__private::on_worker_thread() {
            return;
        }
        let meta = event.metadata();
        let level = log_level(meta.level());
        if !logiscout_core::__private::enabled(level, meta.target()) {
            return;
        }
        // This thread's scratch, unless it is in use: an event emitted while one is being recorded (by
        // a value's `Debug`, or a console writer that logs) gets a scratch of its own.
        let done = SCRATCH.try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                self.ship(event, level, &ctx, &mut scratch);
                true
            }
            Err(_) => false,
        });
        if done != Ok(true) {
            self.ship(event, level, &ctx, &mut Scratch::new());
        }
    }
}

impl LogiscoutLayer {
    /// One event through logiscout's pipeline, its fields and its spans' presented from `scratch`.
    fn ship<S>(
        &self,
        event: &Event<'_>,
        level: log::Level,
        ctx: &Context<'_, S>,
        scratch: &mut Scratch,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Scratch { event: own, spans } = scratch;
        own.clear();
        spans.clear();
        event.record(&mut Recorder::event(own));
        if let Some(scope) = ctx.event_scope(event) {
            // Leaf to root (`from_root` would collect the scope into a new Vec), then turned around.
            for span in scope {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    spans.push(Arc::clone(fields));
                }
            }
            spans.reverse();
        }
        let mut kvs = Merged {
            spans,
            event: own,
            skip_critical: false,
        };
        let mut critical = false;
        if level == log::Level::Error {
            if let Some(Val::Bool(b)) = kvs.last(CRITICAL) {
                critical = b;
                kvs.skip_critical = true;
            }
        }
        let meta = event.metadata();
        let message = Message(own);
        let args = format_args!("{message}");
        let record = log::Record::builder()
            .args(args)
            .level(level)
            .target(meta.target())
            .module_path_static(meta.module_path())
            .file_static(meta.file())
            .line(meta.line())
            .key_values(&kvs)
            .build();
        logiscout_core::__private::log_from_layer(&record, critical, self.console);
        // The spans' fields are theirs: not held past the event.
        spans.clear();
    }
}
