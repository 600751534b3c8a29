//! The shipping worker: its bounded queue (the hot path's one hand-off), its thread and runtime, the
//! triggers, delivery with retries, flush and shutdown, and the counters behind [`stats`](crate::stats).
//!
//! Accounting: every record offered for shipping increments `logs_enqueued` once and, later, exactly one of
//! `logs_sent` or `logs_dropped`; until then it is pending (in the queue, the batcher, or in flight).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use log::Record;

use crate::batch::{accounted_size, BatchContent, BatchMeta, Batcher, LogEntry, RequestMeta};
use crate::capture::{capture, render, Capture, CaptureError};
use crate::context::{Context, CorrelationId, RequestEnd, TraceContext};
use crate::record::{keeps_local, unix_micros, Timestamp, WireLevel};
use crate::transport::{EncodedBatch, RetryPolicy, SendError, Transport};

thread_local! {
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// True on the worker thread (and its runtime's blocking threads): records made there are never shipped.
pub(crate) fn on_worker_thread() -> bool {
    IS_WORKER.try_with(Cell::get).unwrap_or(false)
}

fn mark_worker_thread() {
    let _ = IS_WORKER.try_with(|w| w.set(true));
}

/// A snapshot of the shipping counters. In `Env::Dev`, or before `init`, all are zero.
///
/// `logs_enqueued == logs_sent + logs_dropped + logs_pending()` holds at every snapshot taken after a
/// [`flush`](crate::flush) or shutdown returned; during shipping it holds up to records in transit between
/// two counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records offered for shipping (not counting `send = false` ones).
    pub logs_enqueued: u64,
    /// Records the endpoint accepted (2xx).
    pub logs_sent: u64,
    /// Records given up on: queue full, after shutdown, refused by the endpoint, retries exhausted,
    /// shutdown deadline passed, or larger than a whole batch.
    pub logs_dropped: u64,
    /// Batches accepted whole: every log in them was accepted (a batch split after a `413` counts once).
    pub batches_sent: u64,
    /// Retry attempts (one batch retried three times counts three).
    pub batches_retried: u64,
    /// Batches in which at least one log was dropped (refused, retries exhausted, a single log too large
    /// even alone); a batch split after a `413` counts once.
    pub batches_failed: u64,
    /// Request starts and ends lost to a full queue: that request's payload then lacks its method and
    /// path (a lost start) or its status and duration (a lost end). Its logs are counted in the `logs_*`
    /// counters like any other.
    pub request_events_dropped: u64,
}

impl Stats {
    /// Records neither sent nor dropped yet.
    pub fn logs_pending(&self) -> u64 {
        self.logs_enqueued
            .saturating_sub(self.logs_sent)
            .saturating_sub(self.logs_dropped)
    }
}

/// What a [`flush`](crate::flush) or shutdown achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Every record logged before the call was sent or dropped before the deadline.
    pub complete: bool,
    /// The counters when the call returned.
    pub stats: Stats,
}

impl FlushReport {
    /// Records still undelivered when the call returned.
    pub fn undelivered(&self) -> u64 {
        self.stats.logs_pending()
    }
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    batches_sent: AtomicU64,
    batches_retried: AtomicU64,
    batches_failed: AtomicU64,
    /// Drops not yet reported in a batch's `dropped_logs`.
    unreported_drops: AtomicU64,
    /// Records dropped because the queue or the byte cap was full (the worker reports them on stderr,
    /// at most once per `drop_report_every`, with the count since the last report).
    full_drops: AtomicU64,
    /// Records made after shutdown (dropped; reported on stderr).
    after_shutdown: AtomicU64,
    /// Request start/end events lost to a full queue (`Stats::request_events_dropped`).
    events_dropped: AtomicU64,
    /// Request ends handed to the worker (tests check that quiet requests send none; `flush` tracks ends
    /// through its fence, so nothing else needs this count).
    #[cfg(test)]
    ends_enqueued: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        // Read `enqueued` last: it only grows, so pending never comes out negative.
        let logs_sent = self.sent.load(Ordering::SeqCst);
        let logs_dropped = self.dropped.load(Ordering::SeqCst);
        Stats {
            logs_sent,
            logs_dropped,
            batches_sent: self.batches_sent.load(Ordering::Relaxed),
            batches_retried: self.batches_retried.load(Ordering::Relaxed),
            batches_failed: self.batches_failed.load(Ordering::Relaxed),
            request_events_dropped: self.events_dropped.load(Ordering::Relaxed),
            logs_enqueued: self.enqueued.load(Ordering::SeqCst),
        }
    }

    fn drop_logs(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::SeqCst);
        self.unreported_drops.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) enum Event {
    Log {
        id: Option<CorrelationId>,
        /// The W3C trace and span of the context the record was made in.
        trace: Option<TraceContext>,
        ts: Timestamp,
        capture: Capture,
    },
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

enum Control {
    Shutdown {
        deadline: Instant,
        /// `true` when everything was delivered or settled before the deadline.
        reply: std::sync::mpsc::Sender<bool>,
    },
}

/// Settings the worker needs, taken from `Config`.
#[derive(Clone)]
pub(crate) struct WorkerSettings {
    pub service_name: String,
    pub environment: &'static str,
    pub max_queue_logs: usize,
    pub max_buffer_bytes: usize,
    pub max_batch_logs: usize,
    pub max_batch_bytes: usize,
    pub max_batch_wait: Duration,
    pub max_in_flight: usize,
    pub retry: RetryPolicy,
    pub max_string_bytes: usize,
    pub max_record_bytes: usize,
    pub shutdown_timeout: Duration,
    /// Where diagnostic lines go (default: standard error).
    pub diagnostics: Option<crate::config::SharedWriter>,
    /// How often drops for a full buffer are reported while they go on (default: once a minute).
    pub drop_report_every: Duration,
}

struct Shared {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    control: Sender<Control>,
    wake: tokio::sync::Notify,
    /// Wakes batches sleeping in backoff: notified when a delivery succeeds (the endpoint is back) and
    /// when a flush or shutdown starts (each waiting batch gets a prompt attempt).
    retry_now: tokio::sync::Notify,
    /// Deliveries that succeeded; a batch whose attempt failed compares it before sleeping, so a success
    /// that came meanwhile is not missed.
    successes: AtomicU64,
    /// Set by the worker while it waits for work. The hot path looks at the queue's length (a cache line
    /// the worker writes on every receive) and wakes it only then; while the worker is busy, a log call
    /// reads just this flag, which stays unchanged in its cache.
    waiting: AtomicBool,
    counters: Counters,
    /// Bytes held by records from enqueue until they are sent or dropped.
    buffered_bytes: AtomicUsize,
    max_buffer_bytes: usize,
    wake_at: usize,
    closed: AtomicBool,
    max_string_bytes: usize,
    max_record_bytes: usize,
    reporter: Reporter,
    /// Spent capture buffers, handed back by the worker as soon as it rendered them, in bundles of
    /// [`BUNDLE`], so the hot path rarely allocates and touches this shared pool once per bundle, not once
    /// per record (see [`LOCAL_SPARES`]).
    spare_tx: Sender<Vec<Vec<u8>>>,
    spare_rx: Receiver<Vec<Vec<u8>>>,
    /// Spent JSON bodies, reused by the worker for the next renders (only the worker touches it).
    json_spare: Mutex<Vec<Vec<u8>>>,
}

/// How many spare JSON bodies the worker keeps, and the largest one kept: at most 2 MiB held in spares.
const SPARE_BUFFERS: usize = 1024;
const SPARE_MAX_CAPACITY: usize = 2048;
/// Capture buffers go back to the logging threads in bundles of this many; the pool holds at most
/// `SPARE_BUNDLES` bundles, and keeps only buffers up to `SPARE_CAPTURE_CAPACITY`: at most 512 KiB in the
/// pool, and 16 KiB in each logging thread's local cache.
const BUNDLE: usize = 32;
const SPARE_BUNDLES: usize = 32;
const SPARE_CAPTURE_CAPACITY: usize = 512;

thread_local! {
    /// On a logging thread: spare capture buffers, taken from the pool a bundle at a time. On the
    /// worker: spent capture buffers, gathered into the next bundle.
    static LOCAL_SPARES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}
/// The capacity of a new capture buffer (most captures are well under 100 bytes) and of a new JSON body.
const NEW_CAPTURE_CAPACITY: usize = 128;
const NEW_BODY_CAPACITY: usize = 256;

/// What a queued capture counts against the byte cap: its own buffer, plus room for the JSON body the
/// worker will render it into. Counting the body up front keeps the cap a true upper bound while records
/// wait in the queue; `Shared::render` then trues it up to the body's real size.
fn queued_size(capture: &Capture) -> usize {
    accounted_size(capture.buf.capacity()) + NEW_BODY_CAPACITY
}

impl Shared {
    /// A capture buffer for the hot path: from this thread's cache, refilled from the pool a bundle at a
    /// time, or a new one.
    fn take_buffer(&self) -> Vec<u8> {
        LOCAL_SPARES
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_empty() {
                    *local = self.spare_rx.try_recv().ok()?;
                }
                local.pop()
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| Vec::with_capacity(NEW_CAPTURE_CAPACITY))
    }

    /// Keeps a spent capture buffer for reuse: in this thread's cache, which goes to the pool as a
    /// bundle once full (a full pool frees it).
    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > SPARE_CAPTURE_CAPACITY {
            return;
        }
        buf.clear();
        let _ = LOCAL_SPARES.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            if local.len() < BUNDLE {
                local.push(buf);
            }
            if local.len() >= BUNDLE {
                let bundle = std::mem::replace(&mut *local, Vec::with_capacity(BUNDLE));
                let _ = self.spare_tx.try_send(bundle);
            }
        });
    }

    /// Returns the logs' JSON bodies to the worker's pool (what does not fit is freed).
    fn recycle(&self, content: BatchContent) {
        let Ok(mut pool) = self.json_spare.lock() else {
            return;
        };
        for part in content.parts {
            for log in part.logs {
                if pool.len() >= SPARE_BUFFERS {
                    return;
                }
                let mut body = log.body;
                if body.capacity() <= SPARE_MAX_CAPACITY {
                    body.clear();
                    pool.push(body);
                }
            }
        }
    }

    /// Turns a capture into the JSON body the batcher holds and hands the capture's buffer back to the
    /// hot path. `growth` collects how much more the body holds than the capture did; the caller moves
    /// the byte accounting once per drained run of records, not once per record, so the worker does not
    /// contend with the application's threads on `buffered_bytes` for every record.
    fn render(&self, capture: Capture, growth: &mut isize) -> Option<Vec<u8>> {
        let mut body = self
            .json_spare
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_else(|| Vec::with_capacity(NEW_BODY_CAPACITY));
        let captured = queued_size(&capture);
        let rendered = render(&capture, &mut body, self.max_string_bytes);
        self.give_back(capture.buf);
        if rendered.is_err() {
            self.release(captured);
            self.counters.drop_logs(1);
            self.reporter.once(
                "render",
                "logiscout: a captured record could not be rendered as JSON and was dropped (a bug: please report it)",
            );
            return None;
        }
        *growth += accounted_size(body.capacity()) as isize - captured as isize;
        Some(body)
    }

    /// Applies the growth collected by [`render`](Self::render).
    fn account_growth(&self, growth: isize) {
        if growth > 0 {
            self.buffered_bytes
                .fetch_add(growth.unsigned_abs(), Ordering::Relaxed);
        } else if growth < 0 {
            self.release(growth.unsigned_abs());
        }
    }

    fn release(&self, bytes: usize) {
        self.buffered_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Counts one received event as dropped (used when draining after shutdown).
    fn discard(&self, event: Event) {
        match event {
            Event::Log { capture, .. } => {
                self.release(queued_size(&capture));
                self.counters.drop_logs(1);
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

    fn offer(&self, event: Event) -> Result<(), Event> {
        match self.tx.try_send(event) {
            Ok(()) => {
                if self.closed.load(Ordering::SeqCst) {
                    // Shutdown raced this record: whoever receives it now counts it exactly once.
                    while let Ok(ev) = self.rx.try_recv() {
                        self.discard(ev);
                    }
                } else if self.waiting.load(Ordering::SeqCst) && self.tx.len() >= self.wake_at {
                    self.wake.notify_one();
                }
                Ok(())
            }
            Err(TrySendError::Full(ev)) | Err(TrySendError::Disconnected(ev)) => Err(ev),
        }
    }
}

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
        let (tx, rx) = crossbeam_channel::bounded(settings.max_queue_logs);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let (spare_tx, spare_rx) = crossbeam_channel::bounded(SPARE_BUNDLES);
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
            reporter: Reporter {
                last: Mutex::default(),
                out: settings.diagnostics.clone(),
            },
            spare_tx,
            spare_rx,
            json_spare: Mutex::new(Vec::new()),
        });
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
    pub(crate) fn enqueue(
        &self,
        record: &Record<'_>,
        level: WireLevel,
        ts: Timestamp,
        id: Option<CorrelationId>,
        trace: Option<TraceContext>,
    ) {
        let shared = &*self.shared;
        let buf = shared.take_buffer();
        let capture = match capture(
            buf,
            record,
            level,
            shared.max_string_bytes,
            shared.max_record_bytes,
        ) {
            Ok(capture) => capture,
            Err((CaptureError::KeepLocal, buf)) => {
                shared.give_back(buf);
                return;
            }
            Err((CaptureError::Encode(error), buf)) => {
                shared.give_back(buf);
                // The key-values after the failing one were not looked at: a later `send = false` still
                // keeps the record local (and uncounted).
                if keeps_local(record) {
                    return;
                }
                shared.counters.enqueued.fetch_add(1, Ordering::SeqCst);
                shared.counters.drop_logs(1);
                shared.reporter.once(
                    "encode",
                    &format!(
                        "logiscout: a record could not be encoded as JSON and was dropped: {error}"
                    ),
                );
                return;
            }
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
        let event = Event::Log {
            id,
            trace,
            ts,
            capture,
        };
        if shared.offer(event).is_err() {
            shared.release(size);
            self.full();
        }
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
                path: request.path.clone(),
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
        // The fence goes through the records' own queue, behind everything logged before this call. A full
        // queue is waited out (flush may block, until its deadline; a log call never does).
        let mut fence = Event::Flush { reply };
        let queued = loop {
            match self.shared.tx.try_send(fence) {
                Ok(()) => break true,
                Err(TrySendError::Disconnected(_)) => break false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        break false;
                    }
                    fence = back;
                    self.shared.wake.notify_one();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        let complete = queued && {
            if self.shared.closed.load(Ordering::SeqCst) {
                // Shutdown raced the fence: whoever receives it now answers it.
                while let Ok(ev) = self.shared.rx.try_recv() {
                    self.shared.discard(ev);
                }
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

    /// Stops accepting records, delivers what it can until `timeout`, drops (and counts) the rest, and
    /// stops the worker. Later calls return the final counters at once.
    pub(crate) fn shutdown(&self, timeout: Duration) -> FlushReport {
        let thread = match self.thread.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(thread) = thread else {
            let stats = self.stats();
            return FlushReport {
                complete: stats.logs_pending() == 0,
                stats,
            };
        };
        self.shared.closed.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let (reply, done) = std::sync::mpsc::channel();
        let answer = if self
            .shared
            .control
            .send(Control::Shutdown { deadline, reply })
            .is_ok()
        {
            self.shared.wake.notify_one();
            // The worker answers by the deadline; a little grace covers its last bookkeeping.
            done.recv_timeout(timeout + Duration::from_millis(50)).ok()
        } else {
            None
        };
        if answer.is_some() {
            let _ = thread.join();
        }
        // Whatever is still in the queue now can no longer be delivered.
        while let Ok(ev) = self.shared.rx.try_recv() {
            self.shared.discard(ev);
        }
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
        let thread = match self.thread.lock() {
            Ok(mut t) => t.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        self.shared.closed.store(true, Ordering::SeqCst);
        let (reply, done) = std::sync::mpsc::channel();
        let deadline = Instant::now();
        if self
            .shared
            .control
            .send(Control::Shutdown { deadline, reply })
            .is_ok()
        {
            self.shared.wake.notify_one();
            if done.recv_timeout(Duration::from_secs(1)).is_ok() {
                if let Some(thread) = thread {
                    let _ = thread.join();
                }
            }
        }
    }

    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

/// Lines for stderr, written directly (never through `log`), each kind at most once per minute; a bad
/// token is reported once for the life of the process.
struct Reporter {
    last: Mutex<Vec<(&'static str, Instant)>>,
    out: Option<crate::config::SharedWriter>,
}

impl Reporter {
    fn line(&self, text: &str) {
        use std::io::Write;
        match &self.out {
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Some(out) => {
                if let Ok(mut out) = out.lock() {
                    let _ = writeln!(out, "{text}");
                }
            }
        }
    }

    /// Reports `text` unless `kind` was reported within the last minute.
    fn limited(&self, kind: &'static str, text: &str) {
        self.report(kind, text, Some(Duration::from_secs(60)));
    }

    /// Reports `text` once per process for `kind`.
    fn once(&self, kind: &'static str, text: &str) {
        self.report(kind, text, None);
    }

    fn report(&self, kind: &'static str, text: &str, every: Option<Duration>) {
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        match last.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, at)) => match every {
                Some(every) if now.duration_since(*at) >= every => *at = now,
                _ => return,
            },
            None => last.push((kind, now)),
        }
        drop(last);
        self.line(text);
    }
}

/// Logs of a batch not yet settled; counted as dropped if the delivery is abandoned (aborted at shutdown).
struct Unsettled {
    shared: Arc<Shared>,
    logs: u64,
    bytes: usize,
}

impl Unsettled {
    fn settle(&mut self, sent: bool) {
        if sent {
            self.shared
                .counters
                .sent
                .fetch_add(self.logs, Ordering::SeqCst);
        } else {
            self.shared.counters.drop_logs(self.logs);
        }
        self.shared.release(self.bytes);
        self.logs = 0;
        self.bytes = 0;
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if self.logs > 0 || self.bytes > 0 {
            self.settle(false);
        }
    }
}

fn run(
    shared: Arc<Shared>,
    control: Receiver<Control>,
    transport: Arc<dyn Transport>,
    settings: WorkerSettings,
) {
    mark_worker_thread();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(mark_worker_thread)
        .build();
    match runtime {
        Ok(rt) => rt.block_on(worker_loop(&shared, &control, transport, &settings)),
        Err(e) => {
            shared.reporter.line(&format!(
                "logiscout: the shipping worker could not start its runtime ({e}); logs will not be shipped"
            ));
            shared.closed.store(true, Ordering::SeqCst);
            // Everything is counted as dropped: records (and flush fences, which are answered) are
            // discarded by whoever queues them now that `closed` is set; what was queued before goes here.
            while let Ok(ev) = shared.rx.try_recv() {
                shared.discard(ev);
            }
            if let Ok(Control::Shutdown { reply, .. }) = control.recv() {
                while let Ok(ev) = shared.rx.try_recv() {
                    shared.discard(ev);
                }
                let _ = reply.send(false);
            }
        }
    }
}

/// A `flush` waiting for the records received before its fence.
struct PendingFlush {
    /// Receive index of the first record after the fence.
    fence: u64,
    /// Set once nothing received before the fence is left in the batcher: deliveries numbered below
    /// this may still carry such records.
    drained_at: Option<u64>,
    reply: std::sync::mpsc::Sender<()>,
}

/// Reports drops for a full buffer while they go on: the first at once, then at most once per period,
/// each line with the count since the one before (the shutdown summary has the total).
#[derive(Default)]
struct DropReport {
    reported: u64,
    at: Option<Instant>,
}

impl DropReport {
    fn report(&mut self, shared: &Shared, every: Duration, now: Instant) {
        let total = shared.counters.full_drops.load(Ordering::Relaxed);
        if total == self.reported || self.at.is_some_and(|at| now.duration_since(at) < every) {
            return;
        }
        let new = total - self.reported;
        let text = match self.at {
            None => format!(
                "logiscout: the shipping buffer is full: {new} logs dropped so far (counted in stats() and in the next batch's dropped_logs; raise max_queue_logs or max_buffer_bytes, or check the endpoint)"
            ),
            Some(at) => format!(
                "logiscout: the shipping buffer is still full: {new} more logs dropped in the last {} s ({total} in all)",
                now.duration_since(at).as_secs()
            ),
        };
        shared.reporter.line(&text);
        self.reported = total;
        self.at = Some(now);
    }
}

/// How often the worker looks at the queue when nobody wakes it.
const TICK: Duration = Duration::from_millis(100);

/// The first batch after start goes out this long after the first record (or sooner, on the usual
/// triggers), so a refused token or an unreachable endpoint shows on stderr within seconds of the first
/// log, not after `max_batch_wait`; the wait gathers a start-up burst into that one batch. Later batches
/// keep the usual triggers (`max_batch_logs`, `max_batch_wait`).
pub(crate) const FIRST_BATCH_WAIT: Duration = Duration::from_secs(1);

async fn worker_loop(
    shared: &Arc<Shared>,
    control: &Receiver<Control>,
    transport: Arc<dyn Transport>,
    settings: &WorkerSettings,
) {
    let mut batcher = Batcher::new(
        CorrelationId::generate(),
        settings.max_batch_logs,
        settings.max_batch_bytes,
        settings.max_batch_wait,
    );
    let mut in_flight = tokio::task::JoinSet::new();
    let mut flushes: Vec<PendingFlush> = Vec::new();
    // Receive indexes of records and request ends, and numbers of deliveries, for the flush fences.
    let mut received: u64 = 0;
    let mut next_delivery: u64 = 0;
    let mut outstanding: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
    let mut shutdown: Option<(Instant, std::sync::mpsc::Sender<bool>)> = None;
    let mut drops = DropReport::default();
    // The first batch's prompt take (see `FIRST_BATCH_WAIT`): due once the first record is held, done
    // once any batch was taken. The batcher's own triggers are left as they are.
    let mut first_due: Option<Instant> = None;
    let mut first_taken = false;
    let delivery = Arc::new(Delivery {
        shared: shared.clone(),
        transport,
        retry: settings.retry,
        service_name: settings.service_name.clone(),
        environment: settings.environment,
        max_batch_bytes: settings.max_batch_bytes,
    });
    loop {
        while let Ok(c) = control.try_recv() {
            match c {
                Control::Shutdown { deadline, reply } => {
                    shutdown = Some((deadline, reply));
                    // Every batch waiting in backoff gets a last attempt now, inside the deadline.
                    shared.retry_now.notify_waiters();
                }
            }
        }
        let now = Instant::now();
        let mut growth = 0isize;
        while let Ok(event) = shared.rx.try_recv() {
            match event {
                Event::Log {
                    id,
                    trace,
                    ts,
                    capture,
                } => {
                    let seq = received;
                    received += 1;
                    if let Some(body) = shared.render(capture, &mut growth) {
                        let entry = LogEntry {
                            ts,
                            trace,
                            body,
                            seq,
                        };
                        batcher.log(id, entry, now);
                    }
                    if growth.unsigned_abs() > 1 << 20 {
                        shared.account_growth(std::mem::take(&mut growth));
                    }
                }
                Event::RequestStarted { id, meta } => batcher.request_started(id, meta),
                Event::RequestFinished {
                    id,
                    status,
                    ended_at,
                    duration_ms,
                } => {
                    let seq = received;
                    received += 1;
                    if batcher.request_finished(&id, status, ended_at, duration_ms, now) {
                        batcher.set_close_seq(&id, seq);
                    } else {
                        // No payload needed (or the start was lost): resolved now.
                    }
                }
                Event::Flush { reply } => {
                    shared.retry_now.notify_waiters();
                    batcher.add_fence(received);
                    flushes.push(PendingFlush {
                        fence: received,
                        drained_at: None,
                        reply,
                    })
                }
            }
        }
        shared.account_growth(growth);
        // Reap the deliveries that ended before spawning, so their slots are used now: reaped later, a
        // slot would stay empty until the next wake-up.
        while let Some(joined) = in_flight.try_join_next() {
            if let Ok(number) = joined {
                outstanding.remove(&number);
            }
        }
        drops.report(shared, settings.drop_report_every, now);
        if !first_taken && first_due.is_none() && !batcher.is_idle() {
            first_due = Some(now + FIRST_BATCH_WAIT);
        }
        let first_now = first_due.is_some_and(|due| now >= due);
        let forced = !flushes.is_empty() || shutdown.is_some() || first_now;
        while in_flight.len() < settings.max_in_flight
            && (batcher.ready(now) || (forced && !batcher.is_idle()))
        {
            let (content, oversized) = batcher.take();
            if oversized.logs > 0 {
                shared.counters.drop_logs(oversized.logs);
                shared.release(oversized.accounted_bytes);
                shared.reporter.limited(
                    "oversized",
                    "logiscout: a log larger than max_batch_bytes was dropped",
                );
            }
            let Some(content) = content else { break };
            first_taken = true;
            first_due = None;
            let unsettled = Unsettled {
                shared: shared.clone(),
                logs: content.log_count() as u64,
                bytes: content.accounted_bytes(),
            };
            let number = next_delivery;
            next_delivery += 1;
            outstanding.insert(number);
            let delivery = delivery.clone();
            in_flight.spawn(async move {
                delivery.deliver(content, unsettled).await;
                number
            });
        }
        // A flush is done when everything received before its fence has left the batcher (phase one:
        // then every such record is in a delivery numbered below `next_delivery`, or dropped) and those
        // deliveries have all ended, sent or given up on (phase two).
        flushes.retain_mut(|f| {
            if f.drained_at.is_none() && batcher.fence_drained(f.fence) {
                f.drained_at = Some(next_delivery);
            }
            match f.drained_at {
                Some(d) if outstanding.range(..d).next().is_none() => {
                    let _ = f.reply.send(());
                    false
                }
                _ => true,
            }
        });
        if let Some((deadline, _)) = &shutdown {
            let drained = batcher.is_idle() && in_flight.is_empty() && shared.rx.is_empty();
            if drained || Instant::now() >= *deadline {
                in_flight.abort_all();
                while in_flight.join_next().await.is_some() {}
                while let Ok(ev) = shared.rx.try_recv() {
                    shared.discard(ev);
                }
                let left = batcher.pending_logs() as u64;
                if left > 0 {
                    shared.counters.drop_logs(left);
                }
                shared.buffered_bytes.store(0, Ordering::Relaxed);
                for f in flushes.drain(..) {
                    let _ = f.reply.send(());
                }
                if let Some((_, reply)) = shutdown.take() {
                    let _ = reply.send(drained);
                }
                return;
            }
        }
        let mut wake_at = Instant::now() + TICK;
        if let Some(d) = batcher.deadline() {
            wake_at = wake_at.min(d);
        }
        if let Some(d) = first_due {
            wake_at = wake_at.min(d);
        }
        if let Some((deadline, _)) = &shutdown {
            wake_at = wake_at.min(*deadline);
        }
        // Announce the wait, then look once more: a record pushed before the announcement was seen by
        // no waker (its call saw `waiting == false`), so a queue that reached the threshold meanwhile
        // is taken now. SeqCst on both sides: either the call sees `waiting` or this sees its record.
        shared.waiting.store(true, Ordering::SeqCst);
        if shared.rx.len() < shared.wake_at {
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep_until(wake_at.into()) => {}
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(number) = joined {
                    outstanding.remove(&number);
                }
            }
            }
        } else {
            tokio::task::yield_now().await;
        }
        shared.waiting.store(false, Ordering::SeqCst);
    }
}

struct Delivery {
    shared: Arc<Shared>,
    transport: Arc<dyn Transport>,
    retry: RetryPolicy,
    service_name: String,
    environment: &'static str,
    /// OTLP bodies above this are split before sending (the batcher's caps count the LogiScout format;
    /// OTLP/JSON, with its per-attribute objects, may come out larger).
    max_batch_bytes: usize,
}

impl Delivery {
    fn encode(&self, content: &BatchContent) -> EncodedBatch {
        let mut id_buf = uuid::Uuid::encode_buffer();
        let id = uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut id_buf)
            .to_owned();
        let dropped = self
            .shared
            .counters
            .unreported_drops
            .swap(0, Ordering::Relaxed);
        let body = match self.transport.protocol() {
            // OTLP has no field for the drop count: it stays in `stats()`.
            #[cfg(feature = "otlp")]
            protocol if protocol.is_otlp() => crate::otlp::encode(
                content,
                &crate::otlp::Resource {
                    service_name: &self.service_name,
                    environment: self.environment,
                },
                protocol == crate::Protocol::OtlpJson,
            ),
            _ => content.encode(&BatchMeta {
                batch_id: &id,
                service_name: &self.service_name,
                environment: self.environment,
                sdk: crate::SDK,
                dropped_logs: dropped,
                flushed_at: Timestamp::now(),
            }),
        };
        EncodedBatch {
            id,
            body: body.into(),
            logs: content.log_count(),
        }
    }

    /// Delivers one batch (splitting it on 413, down to single records), settling every log as sent or
    /// dropped. The batch counts once in `batches_sent` (every log accepted) or `batches_failed` (some
    /// dropped), however many pieces it was split into: at most 2n - 1 POSTs for n logs.
    async fn deliver(self: Arc<Self>, content: BatchContent, mut unsettled: Unsettled) {
        let mut rng = fastrand::Rng::new();
        let mut queue = vec![content];
        let mut dropped_any = false;
        while let Some(content) = queue.pop() {
            let batch = self.encode(&content);
            let logs = batch.logs as u64;
            let oversized = batch.body.len() > self.max_batch_bytes;
            let content = if oversized && self.transport.protocol().is_otlp() {
                match content.split() {
                    Ok((a, b)) => {
                        queue.push(b);
                        queue.push(a);
                        continue;
                    }
                    // A single record larger than the cap goes as it is (a 413 drops it).
                    Err(content) => content,
                }
            } else {
                content
            };
            let outcome = self.send_with_retries(&batch, &mut rng).await;
            let dropped = match outcome {
                Ok(()) => {
                    self.settle_part(&mut unsettled, &content, true);
                    None
                }
                Err(SendError::PartlyRejected { rejected, message }) => {
                    let rejected = rejected.min(logs);
                    self.settle_partly(&mut unsettled, &content, rejected);
                    dropped_any |= rejected > 0;
                    self.shared.reporter.once(
                        "partial-success",
                        &format!("logiscout: the OTLP endpoint rejected {rejected} of {logs} logs of a batch ({message}); they were dropped (counted in stats(); this is reported once)"),
                    );
                    None
                }
                Err(SendError::TooLarge) => match content.split() {
                    Ok((a, b)) => {
                        queue.push(b);
                        queue.push(a);
                        continue;
                    }
                    Err(content) => {
                        self.settle_part(&mut unsettled, &content, false);
                        self.shared.recycle(content);
                        self.shared.reporter.limited(
                            "413",
                            "logiscout: the endpoint refused a single log as too large (413); it was dropped",
                        );
                        dropped_any = true;
                        continue;
                    }
                },
                Err(SendError::Rejected { status, reason }) => Some((
                    if status == 401 || status == 403 {
                        None
                    } else {
                        Some("rejected")
                    },
                    format!("logiscout: the ingest endpoint refused a batch ({reason}); {logs} logs dropped"),
                )),
                Err(SendError::Retry { reason, .. }) => Some((
                    Some("gave-up"),
                    format!(
                        "logiscout: gave up delivering a batch after retrying ({reason}); {logs} logs dropped"
                    ),
                )),
            };
            if let Some((kind, text)) = dropped {
                self.settle_part(&mut unsettled, &content, false);
                dropped_any = true;
                match kind {
                    Some(kind) => self.shared.reporter.limited(kind, &text),
                    // A refused token is reported once for the life of the process.
                    None => self.shared.reporter.once("auth", &text),
                }
            }
            self.shared.recycle(content);
        }
        let counter = if dropped_any {
            &self.shared.counters.batches_failed
        } else {
            &self.shared.counters.batches_sent
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Sends one encoded batch, retrying transient failures with backoff until `give_up_after`.
    async fn send_with_retries(
        &self,
        batch: &EncodedBatch,
        rng: &mut fastrand::Rng,
    ) -> Result<(), SendError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let successes = self.shared.successes.load(Ordering::Acquire);
            match self.transport.send(batch).await {
                Ok(()) => {
                    self.shared.successes.fetch_add(1, Ordering::AcqRel);
                    // The endpoint answers: batches sleeping in backoff try again now.
                    self.shared.retry_now.notify_waiters();
                    return Ok(());
                }
                Err(SendError::Retry {
                    reason,
                    retry_after,
                }) => {
                    let delay = self.retry.delay(attempt, retry_after, rng);
                    if started.elapsed() + delay > self.retry.give_up_after {
                        return Err(SendError::Retry {
                            reason,
                            retry_after,
                        });
                    }
                    self.shared
                        .counters
                        .batches_retried
                        .fetch_add(1, Ordering::Relaxed);
                    if reason.starts_with(crate::transport::CERTIFICATE_REFUSED) {
                        // A configuration problem more than a passing one: said once, in plain words.
                        self.shared.reporter.once(
                            "certificate",
                            &format!("logiscout: {reason}; batches are kept and retried with backoff in case it is fixed (this is reported once)"),
                        );
                    } else {
                        self.shared.reporter.limited(
                            "retry",
                            &format!("logiscout: ingest failed ({reason}); retrying with backoff"),
                        );
                    }
                    self.back_off(delay, retry_after.is_some(), successes).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(partly @ SendError::PartlyRejected { .. }) => {
                    // The endpoint answered 2xx: it is up.
                    self.shared.successes.fetch_add(1, Ordering::AcqRel);
                    self.shared.retry_now.notify_waiters();
                    return Err(partly);
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Sleeps `delay` before a retry, or less: until another delivery succeeds (the endpoint is back;
    /// not when the server itself asked for the wait with `Retry-After`), or a flush or shutdown starts.
    /// `successes` is the success count when the failed attempt started.
    async fn back_off(&self, delay: Duration, server_asked: bool, successes: u64) {
        let retry_now = self.shared.retry_now.notified();
        tokio::pin!(retry_now);
        retry_now.as_mut().enable();
        if !server_asked && self.shared.successes.load(Ordering::Acquire) != successes {
            // A delivery succeeded while this attempt was failing.
            return;
        }
        let recovered = async {
            loop {
                retry_now.as_mut().await;
                if !server_asked || self.shared.closed.load(Ordering::Relaxed) {
                    return;
                }
                // A success (or a flush) does not cut a wait the server asked for; shutdown does.
                retry_now.set(self.shared.retry_now.notified());
                retry_now.as_mut().enable();
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = recovered => {}
        }
    }

    /// Settles `content` as accepted but for `rejected` of its logs (OTLP `partial_success`), which are
    /// counted as dropped.
    fn settle_partly(&self, unsettled: &mut Unsettled, content: &BatchContent, rejected: u64) {
        let logs = (content.log_count() as u64).min(unsettled.logs);
        let bytes = content.accounted_bytes().min(unsettled.bytes);
        let rejected = rejected.min(logs);
        unsettled.logs -= logs;
        unsettled.bytes -= bytes;
        let mut dropped = Unsettled {
            shared: self.shared.clone(),
            logs: rejected,
            bytes: 0,
        };
        dropped.settle(false);
        let mut sent = Unsettled {
            shared: self.shared.clone(),
            logs: logs - rejected,
            bytes,
        };
        sent.settle(true);
    }

    fn settle_part(&self, unsettled: &mut Unsettled, content: &BatchContent, sent: bool) {
        let logs = (content.log_count() as u64).min(unsettled.logs);
        let bytes = content.accounted_bytes().min(unsettled.bytes);
        let mut part = Unsettled {
            shared: self.shared.clone(),
            logs,
            bytes,
        };
        unsettled.logs -= logs;
        unsettled.bytes -= bytes;
        part.settle(sent);
    }
}
