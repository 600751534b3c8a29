//! The thread boundary: what crosses it ([`Event`], [`Control`]) and the state both sides share
//! ([`Shared`]: the bounded queue, the byte cap over everything not yet delivered, the wake-ups, the
//! counters, the reporter and the pools). Above the counters, the reporter and the pools; below the worker
//! loop, delivery and the handle.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::pool::{Pools, NEW_BODY_CAPACITY};
use super::report::Reporter;
use super::settings::WorkerSettings;
use super::stats::Counters;
use crate::context::{CorrelationId, TraceContext};
use crate::encode::capture::{render, Capture};
use crate::encode::record::Timestamp;
use crate::protocol::Protocol;
use crate::ship::batch::{accounted_size, RequestMeta, RequestPath};

/// What the logging threads hand the worker, in order, through the bounded queue.
pub(super) enum Event {
    Log {
        id: Option<CorrelationId>,
        /// The W3C trace and span of the context the record was made in.
        trace: Option<TraceContext>,
        ts: Timestamp,
        capture: Capture,
        /// The start of the record's request, when this is the request's first log: the request's
        /// context, which holds its method, path and start time (a log and its request's start in one
        /// hand-off). The worker records the start before the log.
        start: Option<RequestPath>,
    },
    /// A request's start on its own: for `record_always` requests, announced when they begin.
    RequestStarted {
        id: CorrelationId,
        meta: RequestMeta,
    },
    RequestFinished {
        id: CorrelationId,
        status: Option<u16>,
        ended_at: Timestamp,
        duration_ms: f64,
    },
    /// A flush's fence: it travels behind every record logged before the `flush` call (the queue is
    /// FIFO), so when the worker receives it, everything to wait for is in the worker's hands.
    Flush { reply: std::sync::mpsc::Sender<()> },
}

/// What the handle tells the worker out of band (an unbounded channel of its own).
pub(super) enum Control {
    Shutdown {
        deadline: Instant,
        /// `true` when everything was delivered or settled before the deadline.
        reply: std::sync::mpsc::Sender<bool>,
    },
}

/// The state the logging threads, the worker and its deliveries share.
pub(super) struct Shared {
    pub(super) tx: Sender<Event>,
    pub(super) rx: Receiver<Event>,
    pub(super) control: Sender<Control>,
    pub(super) wake: tokio::sync::Notify,
    /// Wakes batches sleeping in backoff: notified when a delivery succeeds (the endpoint is back) and
    /// when a flush or shutdown starts (each waiting batch gets a prompt attempt).
    pub(super) retry_now: tokio::sync::Notify,
    /// Deliveries that succeeded; a batch whose attempt failed compares it before sleeping, so a success
    /// that came meanwhile is not missed.
    pub(super) successes: AtomicU64,
    /// Set by the worker while it waits for work. The hot path looks at the queue's length (a cache line
    /// the worker writes on every receive) and wakes it only then, clearing the flag so that one call
    /// wakes it; while the worker is busy, a log call reads just this flag, which stays unchanged in its
    /// cache.
    pub(super) waiting: AtomicBool,
    pub(super) counters: Counters,
    /// Bytes held by records from enqueue until they are sent or dropped.
    pub(super) buffered_bytes: AtomicUsize,
    pub(super) max_buffer_bytes: usize,
    pub(super) wake_at: usize,
    pub(super) closed: AtomicBool,
    pub(super) max_string_bytes: usize,
    pub(super) max_record_bytes: usize,
    pub(super) reporter: Reporter,
    pub(super) pools: Pools,
    /// What the worker renders a capture into: the LogiScout format's JSON object, or OTLP's
    /// `LogRecord` fields (the transport's protocol).
    pub(super) protocol: Protocol,
}

/// What a queued capture counts against the byte cap: its own buffer, plus room for the JSON body the
/// worker will render it into. Counting the body up front keeps the cap a true upper bound while records
/// wait in the queue; `Shared::render` then trues it up to the body's real size.
#[inline]
pub(super) fn queued_size(capture: &Capture) -> usize {
    accounted_size(capture.buf.capacity()) + NEW_BODY_CAPACITY
}

impl Shared {
    /// The shared state for `settings`, and the receiving end of its control channel (the worker's).
    pub(super) fn new(
        settings: &WorkerSettings,
        protocol: Protocol,
    ) -> (Arc<Shared>, Receiver<Control>) {
        let (tx, rx) = crossbeam_channel::bounded(settings.max_queue_logs);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            tx,
            rx,
            control,
            wake: tokio::sync::Notify::new(),
            retry_now: tokio::sync::Notify::new(),
            successes: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            counters: Counters::default(),
            buffered_bytes: AtomicUsize::new(0),
            max_buffer_bytes: settings.max_buffer_bytes,
            wake_at: settings
                .max_batch_logs
                .min(settings.max_queue_logs / 2)
                .max(1),
            closed: AtomicBool::new(false),
            max_string_bytes: settings.max_string_bytes,
            max_record_bytes: settings.max_record_bytes,
            reporter: Reporter::new(settings.diagnostics.clone()),
            pools: Pools::new(),
            protocol,
        });
        (shared, control_rx)
    }

    /// Turns a capture into the body the batcher holds (JSON, or OTLP fields) and hands the capture's buffer back to the
    /// hot path. `growth` collects how much more the body holds than the capture did; the caller moves
    /// the byte accounting once per drained run of records, not once per record, so the worker does not
    /// contend with the application's threads on `buffered_bytes` for every record.
    #[inline]
    pub(super) fn render(&self, capture: Capture, growth: &mut isize) -> Option<Vec<u8>> {
        let mut body = self.pools.take_body();
        let captured = queued_size(&capture);
        let rendered = match self.protocol {
            #[cfg(feature = "otlp")]
            protocol if protocol.is_otlp() => {
                crate::encode::otlp::render_record(&capture, &mut body, self.max_string_bytes)
            }
            _ => render(&capture, &mut body, self.max_string_bytes),
        };
        self.pools.give_back(capture.buf);
        if rendered.is_err() {
            self.release(captured);
            self.counters.drop_logs(1);
            self.reporter.once(
                "render",
                "logiscout: a captured record could not be rendered as JSON and was dropped (a bug: please report it)",
            );
            return None;
        }
        self.pools.note_body_len(body.len());
        *growth += accounted_size(body.capacity()) as isize - captured as isize;
        Some(body)
    }

    /// Applies the growth collected by [`render`](Self::render).
    #[inline]
    pub(super) fn account_growth(&self, growth: isize) {
        if growth > 0 {
            self.buffered_bytes
                .fetch_add(growth.unsigned_abs(), Ordering::Relaxed);
        } else if growth < 0 {
            self.release(growth.unsigned_abs());
        }
    }

    #[inline]
    pub(super) fn release(&self, bytes: usize) {
        self.buffered_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts one received event as dropped (used when draining after shutdown).
    pub(super) fn discard(&self, event: Event) {
        match event {
            Event::Log { capture, start, .. } => {
                self.release(queued_size(&capture));
                self.counters.drop_logs(1);
                if start.is_some() {
                    self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Event::RequestFinished { .. } => {
                self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Event::RequestStarted { .. } => {
                self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            // Nothing is pending any more once the queue is drained at shutdown.
            Event::Flush { reply } => {
                let _ = reply.send(());
            }
        }
    }

    /// Empties the queue, counting every event in it as dropped (and answering flush fences): what is
    /// still queued once the worker stops, or races its stop, can no longer be delivered.
    pub(super) fn discard_queued(&self) {
        while let Ok(ev) = self.rx.try_recv() {
            self.discard(ev);
        }
    }

    /// The hot path's one hand-off: a bounded, non-blocking send, and a wake-up only while the worker
    /// waits and the queue reached its threshold. A full queue gives the event back.
    // The event comes back by value on a full queue: boxing it would allocate on the hot path.
    #[allow(clippy::result_large_err)]
    // Always inlined: left to the compiler, it was outlined after unrelated changes elsewhere in the
    // crate, and the event then went through one more copy and an outlined drop (+15 instructions per
    // log call in the callgrind guard).
    #[inline(always)]
    pub(super) fn offer(&self, event: Event) -> Result<(), Event> {
        match self.tx.try_send(event) {
            Ok(()) => {
                if self.closed.load(Ordering::SeqCst) {
                    // Shutdown raced this record: whoever receives it now counts it exactly once.
                    self.discard_queued();
                } else if self.waiting.load(Ordering::SeqCst)
                    && self.tx.len() >= self.wake_at
                    // One call wakes it: the worker runs on a core of its own only if there is one, and
                    // until it does, every later call would see it still waiting and notify again.
                    && self.waiting.swap(false, Ordering::SeqCst)
                {
                    self.wake.notify_one();
                }
                Ok(())
            }
            Err(TrySendError::Full(ev)) | Err(TrySendError::Disconnected(ev)) => Err(ev),
        }
    }
}
