//! The app side: [`Shipper`], the handle the logger and the middleware hold. It captures records on the
//! calling thread and hands them over without blocking, announces requests, and runs flush and shutdown.
//! The top layer of `ship/`: it starts the worker thread, and nothing below imports it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;
use log::Record;

use super::queue::{queued_size, Control, Event, Shared};
use super::settings::WorkerSettings;
use super::stats::{FlushReport, Stats};
use super::worker_loop::run;
use crate::context::{Context, CorrelationId, RequestEnd, TraceContext};
use crate::encode::capture::{capture, Capture, CaptureError};
use crate::encode::record::{keeps_local, unix_micros, Timestamp, WireLevel};
use crate::ship::batch::{RequestMeta, RequestPath};
use crate::ship::transport::Transport;

/// The hot path's handle on the worker.
pub(crate) struct Shipper {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    shutdown_timeout: Duration,
}

impl Shipper {
    /// Starts the worker thread with `transport`.
    pub(crate) fn start(
        settings: WorkerSettings,
        transport: Arc<dyn Transport>,
    ) -> std::io::Result<Shipper> {
        let (shared, control_rx) = Shared::new(&settings, transport.protocol());
        let shutdown_timeout = settings.shutdown_timeout;
        let worker_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("logiscout-worker".into())
            .spawn(move || run(worker_shared, control_rx, transport, settings))?;
        Ok(Shipper {
            shared,
            thread: Mutex::new(Some(thread)),
            shutdown_timeout,
        })
    }

    /// The hot path: capture (copies, no encoding), one bounded non-blocking hand-off. Never blocks, never
    /// panics. Records with `send = false` are left out here, as the capture finds the key.
    #[inline]
    pub(crate) fn enqueue(
        &self,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        id: Option<CorrelationId>,
        trace: Option<TraceContext>,
    ) {
        self.enqueue_in(record, level, ts, id, trace, None);
    }

    /// [`enqueue`](Self::enqueue) for the first log of a request unknown to the worker, made in `ctx`: the
    /// record that claims the request's announcement carries its start in the same event (one hand-off,
    /// not two), and gives the claim back if it is dropped, so that the request's next log announces it.
    #[cold]
    pub(crate) fn enqueue_first(
        &self,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        id: Option<CorrelationId>,
        trace: Option<TraceContext>,
        ctx: Option<&Context>,
    ) {
        self.enqueue_in(record, level, ts, id, trace, ctx);
    }

    // Inlined into both callers, so that `enqueue`'s copy has no announcement to look at.
    #[inline(always)]
    fn enqueue_in(
        &self,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        id: Option<CorrelationId>,
        trace: Option<TraceContext>,
        unannounced: Option<&Context>,
    ) {
        let shared = &*self.shared;
        let Some(capture) = self.capture(record, level) else {
            return;
        };
        shared.counters.enqueued.fetch_add(1, Ordering::SeqCst);
        if shared.closed.load(Ordering::Relaxed) {
            self.after_shutdown();
            return;
        }
        let size = queued_size(&capture);
        let before = shared.buffered_bytes.fetch_add(size, Ordering::Relaxed);
        if before + size > shared.max_buffer_bytes {
            shared.release(size);
            self.full();
            return;
        }
        let claimed = unannounced.filter(|ctx| ctx.claim_announcement());
        let event = Event::Log {
            id,
            trace,
            ts,
            capture,
            start: claimed.map(RequestPath::of),
        };
        if let Err(event) = shared.offer(event) {
            self.refused(event, claimed, size);
            return;
        }
        if let Some(ctx) = claimed {
            ctx.announced();
        }
    }

    /// A record the full queue gave back: dropped and counted, its bytes released, and the request's
    /// announcement it claimed given back (its next log announces it). Out of line: the hot path then
    /// has no drop of a refused event to make.
    #[cold]
    fn refused(&self, event: Event, claimed: Option<&Context>, size: usize) {
        drop(event);
        if let Some(ctx) = claimed {
            ctx.unclaim_announcement();
        }
        self.shared.release(size);
        self.full();
    }

    /// Copies `record` into a pooled buffer; `None` when it stays local (`send = false`) or cannot be
    /// encoded (then counted as offered and dropped, and said once).
    #[inline]
    fn capture(&self, record: &Record<'_>, level: WireLevel) -> Option<Capture> {
        let shared = &*self.shared;
        let buf = shared.pools.take_buffer();
        match capture(
            buf,
            record,
            level,
            shared.max_string_bytes,
            shared.max_record_bytes,
        ) {
            Ok(capture) => Some(capture),
            Err((CaptureError::KeepLocal, buf)) => {
                shared.pools.give_back(buf);
                None
            }
            Err((CaptureError::Encode(error), buf)) => {
                shared.pools.give_back(buf);
                self.unencodable(record, &error);
                None
            }
        }
    }

    /// Counts a record whose capture failed as offered and dropped, and says so once.
    #[cold]
    fn unencodable(&self, record: &Record<'_>, error: &serde_json::Error) {
        // The key-values after the failing one were not looked at: a later `send = false` still keeps the
        // record local (and uncounted).
        if keeps_local(record) {
            return;
        }
        let shared = &*self.shared;
        shared.counters.enqueued.fetch_add(1, Ordering::SeqCst);
        shared.counters.drop_logs(1);
        shared.reporter.once(
            "encode",
            &format!("logiscout: a record could not be encoded as JSON and was dropped: {error}"),
        );
    }

    /// Counts a record made after shutdown (the guard was dropped, maybe too early) and says so on stderr:
    /// at once, then at most once a minute with the count. Only this path pays for the report's lock.
    #[cold]
    fn after_shutdown(&self) {
        let counters = &self.shared.counters;
        counters.drop_logs(1);
        let n = counters.after_shutdown.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.reporter.limited(
            "after-shutdown",
            &format!(
                "logiscout: shipping was shut down (the Guard was dropped or shut down), so logs made since are printed but not shipped: {n} so far, counted as dropped in stats(). Keep the Guard alive until the end of main."
            ),
        );
    }

    /// Counts a record dropped because the buffer is full; the worker reports such drops (never the hot
    /// path, which only counts).
    fn full(&self) {
        let counters = &self.shared.counters;
        counters.drop_logs(1);
        // The worker looks at this at least every `TICK`.
        counters.full_drops.fetch_add(1, Ordering::Relaxed);
    }

    /// The start of a request. The worker hears of a request only once it logs (see
    /// [`announce`](Self::announce)), so this sends nothing, except for `record_always` requests, whose
    /// payload is shipped even when they log nothing.
    pub(crate) fn request_started(&self, ctx: &Context) {
        if ctx.request().is_some_and(|r| r.record_always) {
            self.announce(ctx);
        }
    }

    /// Tells the worker about the request in `ctx`, once per request: called by the first log made in it.
    pub(crate) fn announce(&self, ctx: &Context) {
        let Some(request) = ctx.request() else {
            return;
        };
        if !ctx.claim_announcement() {
            return;
        }
        let event = Event::RequestStarted {
            id: ctx.correlation_id().clone(),
            meta: RequestMeta {
                method: request.method.clone(),
                path: RequestPath::of(ctx),
                started_at: Timestamp(unix_micros(request.started_at)),
                status: None,
                ended_at: None,
                duration_ms: None,
                record_always: request.record_always,
            },
        };
        if self.shared.offer(event).is_err() {
            self.shared
                .counters
                .events_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        ctx.announced();
    }

    /// The end of a request: sent only when the worker knows the request (it logged, or records always).
    pub(crate) fn request_finished(&self, ctx: &Context, status: Option<u16>) {
        let Some(request) = ctx.request() else {
            return;
        };
        if ctx.close_announcement() == RequestEnd::Quiet {
            return;
        }
        let event = Event::RequestFinished {
            id: ctx.correlation_id().clone(),
            status,
            ended_at: Timestamp::now(),
            duration_ms: request.started.elapsed().as_secs_f64() * 1000.0,
        };
        let counters = &self.shared.counters;
        #[cfg(test)]
        counters.ends_enqueued.fetch_add(1, Ordering::SeqCst);
        if self.shared.offer(event).is_err() {
            counters.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Request ends handed to the worker so far (tests check that quiet requests send none).
    #[cfg(test)]
    pub(crate) fn ends_enqueued(&self) -> u64 {
        self.shared.counters.ends_enqueued.load(Ordering::SeqCst)
    }

    pub(crate) fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Bytes held now by records not yet delivered (bounded by `max_buffer_bytes`).
    #[cfg(test)]
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.shared.buffered_bytes.load(Ordering::Relaxed)
    }

    /// Waits until everything enqueued before this call is sent or dropped, or `timeout` passes.
    pub(crate) fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = Instant::now() + timeout;
        let (reply, done) = std::sync::mpsc::channel();
        let complete = self.queue_fence(Event::Flush { reply }, deadline) && {
            if self.shared.closed.load(Ordering::SeqCst) {
                // Shutdown raced the fence: whoever receives it now answers it.
                self.shared.discard_queued();
            }
            self.shared.wake.notify_one();
            done.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok()
        };
        FlushReport {
            complete,
            stats: self.stats(),
        }
    }

    /// Puts a flush's fence in the records' own queue, behind everything logged before the flush. A full
    /// queue is waited out (flush may block, until its deadline; a log call never does). `false` when the
    /// fence could not be queued.
    fn queue_fence(&self, mut fence: Event, deadline: Instant) -> bool {
        loop {
            match self.shared.tx.try_send(fence) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    fence = back;
                    self.shared.wake.notify_one();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Stops accepting records, delivers what it can until `timeout`, drops (and counts) the rest, and
    /// stops the worker. Later calls return the final counters at once.
    pub(crate) fn shutdown(&self, timeout: Duration) -> FlushReport {
        let Some(thread) = self.take_thread() else {
            let stats = self.stats();
            return FlushReport {
                complete: stats.logs_pending() == 0,
                stats,
            };
        };
        self.shared.closed.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        // The worker answers by the deadline; a little grace covers its last bookkeeping.
        let answer = self.ask_to_stop(deadline, timeout + Duration::from_millis(50));
        if answer.is_some() {
            let _ = thread.join();
        }
        // Whatever is still in the queue now can no longer be delivered.
        self.shared.discard_queued();
        let pending = self.stats().logs_pending();
        if answer.is_none() && pending > 0 {
            // The worker is stuck past its deadline: count what it holds as lost.
            self.shared.counters.drop_logs(pending);
        }
        let stats = self.stats();
        if stats.logs_dropped > 0 {
            self.shared.reporter.line(&format!(
                "logiscout: shut down with {} of {} logs undelivered (sent {}, dropped {})",
                stats.logs_dropped, stats.logs_enqueued, stats.logs_sent, stats.logs_dropped
            ));
        }
        FlushReport {
            complete: answer == Some(true) && stats.logs_pending() == 0,
            stats,
        }
    }

    /// Stops a worker that never received a record (its logger could not be installed): no report.
    pub(crate) fn stop_quietly(&self) {
        let thread = self.take_thread();
        self.shared.closed.store(true, Ordering::SeqCst);
        if self
            .ask_to_stop(Instant::now(), Duration::from_secs(1))
            .is_some()
        {
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
    }

    /// The worker thread's handle, taken once: `None` after shutdown.
    fn take_thread(&self) -> Option<JoinHandle<()>> {
        match self.thread.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Asks the worker to shut down by `deadline` and waits up to `wait` for its answer (`true`: all
    /// delivered or settled). `None` when it could not be asked or did not answer in time.
    fn ask_to_stop(&self, deadline: Instant, wait: Duration) -> Option<bool> {
        let (reply, done) = std::sync::mpsc::channel();
        self.shared
            .control
            .send(Control::Shutdown { deadline, reply })
            .ok()?;
        self.shared.wake.notify_one();
        done.recv_timeout(wait).ok()
    }

    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}
