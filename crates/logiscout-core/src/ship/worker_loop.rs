//! The worker thread `logiscout-worker`: its own current-thread runtime, and the loop that drains the
//! queue, renders captures, feeds the batcher, spawns deliveries, answers flush fences and shuts down.
//! Above the queue and delivery; below the handle, which starts it.
//!
//! One turn of the loop ([`Worker::turn`]): take control messages, drain the queue, reap ended
//! deliveries, report drops, spawn deliveries for the batches due, answer the flushes whose records are
//! all settled, stop if shut down and done, else wait for a wake-up, a deadline or a delivery's end.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tokio::task::JoinSet;

use super::delivery::{Delivery, Unsettled};
use super::queue::{Control, Event, Shared};
use super::report::DropReport;
use super::settings::WorkerSettings;
use crate::context::{CorrelationId, TraceContext};
use crate::encode::capture::Capture;
use crate::encode::record::{unix_micros, Timestamp};
use crate::ship::batch::{BatchContent, Batcher, LogEntry, Oversized, RequestMeta, RequestPath};
use crate::ship::transport::Transport;

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

/// How often the worker looks at the queue when nobody wakes it.
const TICK: Duration = Duration::from_millis(100);

/// The first batch after start goes out this long after the first record (or sooner, on the usual
/// triggers), so a refused token or an unreachable endpoint shows on stderr within seconds of the first
/// log, not after `max_batch_wait`; the wait gathers a start-up burst into that one batch. Later batches
/// keep the usual triggers (`max_batch_logs`, `max_batch_wait`).
pub(crate) const FIRST_BATCH_WAIT: Duration = Duration::from_secs(1);

/// The worker thread's body: starts the runtime and runs the loop on it until shutdown.
pub(super) fn run(
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
        Ok(rt) => rt.block_on(worker_loop(&shared, control, transport, &settings)),
        Err(e) => refuse_everything(&shared, &control, &e),
    }
}

/// Without a runtime nothing can be shipped: says so once, and counts every record as dropped until the
/// handle shuts the worker down.
fn refuse_everything(shared: &Shared, control: &Receiver<Control>, e: &std::io::Error) {
    shared.reporter.line(&format!(
        "logiscout: the shipping worker could not start its runtime ({e}); logs will not be shipped"
    ));
    shared.closed.store(true, Ordering::SeqCst);
    // Everything is counted as dropped: records (and flush fences, which are answered) are discarded by
    // whoever queues them now that `closed` is set; what was queued before goes here.
    shared.discard_queued();
    if let Ok(Control::Shutdown { reply, .. }) = control.recv() {
        shared.discard_queued();
        let _ = reply.send(false);
    }
}

/// The loop: one [`Worker::turn`] after another until the worker has shut down.
async fn worker_loop(
    shared: &Arc<Shared>,
    control: Receiver<Control>,
    transport: Arc<dyn Transport>,
    settings: &WorkerSettings,
) {
    let mut worker = Worker::new(shared.clone(), control, transport, settings);
    while worker.turn().await {}
}

/// A `flush` waiting for the records received before its fence.
struct PendingFlush {
    /// Receive index of the first record after the fence.
    fence: u64,
    /// Set once nothing received before the fence is left in the batcher: deliveries numbered below
    /// this may still carry such records.
    drained_at: Option<u64>,
    reply: mpsc::Sender<()>,
}

/// The worker loop's state.
struct Worker {
    shared: Arc<Shared>,
    control: Receiver<Control>,
    delivery: Arc<Delivery>,
    max_in_flight: usize,
    drop_report_every: Duration,
    batcher: Batcher,
    in_flight: JoinSet<u64>,
    flushes: Vec<PendingFlush>,
    /// Receive indexes of records and request ends, and numbers of deliveries, for the flush fences.
    received: u64,
    next_delivery: u64,
    outstanding: BTreeSet<u64>,
    shutdown: Option<(Instant, mpsc::Sender<bool>)>,
    drops: DropReport,
    /// The first batch's prompt take (see `FIRST_BATCH_WAIT`): due once the first record is held, done
    /// once any batch was taken. The batcher's own triggers are left as they are.
    first_due: Option<Instant>,
    first_taken: bool,
}

impl Worker {
    fn new(
        shared: Arc<Shared>,
        control: Receiver<Control>,
        transport: Arc<dyn Transport>,
        settings: &WorkerSettings,
    ) -> Self {
        let process_id = CorrelationId::generate();
        let batcher = Batcher::new(
            process_id.clone(),
            settings.max_batch_logs,
            settings.max_batch_bytes,
            settings.max_batch_wait,
        );
        Worker {
            delivery: Arc::new(Delivery::new(
                shared.clone(),
                transport,
                settings,
                process_id,
            )),
            shared,
            control,
            max_in_flight: settings.max_in_flight,
            drop_report_every: settings.drop_report_every,
            batcher,
            in_flight: JoinSet::new(),
            flushes: Vec::new(),
            received: 0,
            next_delivery: 0,
            outstanding: BTreeSet::new(),
            shutdown: None,
            drops: DropReport::default(),
            first_due: None,
            first_taken: false,
        }
    }

    /// One turn of the loop; `false` once the worker has shut down.
    async fn turn(&mut self) -> bool {
        self.take_control();
        let now = Instant::now();
        self.drain(now);
        // Reap the deliveries that ended before spawning, so their slots are used now: reaped later, a
        // slot would stay empty until the next wake-up.
        while let Some(joined) = self.in_flight.try_join_next() {
            if let Ok(number) = joined {
                self.outstanding.remove(&number);
            }
        }
        let shared = &*self.shared;
        self.drops.report(
            &shared.counters,
            &shared.reporter,
            self.drop_report_every,
            now,
        );
        self.spawn_deliveries(now);
        self.answer_flushes();
        if self.finish_if_shut_down().await {
            return false;
        }
        self.wait().await;
        true
    }

    fn take_control(&mut self) {
        while let Ok(c) = self.control.try_recv() {
            match c {
                Control::Shutdown { deadline, reply } => {
                    self.shutdown = Some((deadline, reply));
                    // Every batch waiting in backoff gets a last attempt now, inside the deadline.
                    self.shared.retry_now.notify_waiters();
                }
            }
        }
    }

    /// Receives everything queued now: records are rendered into the batcher, request events and flush
    /// fences recorded.
    fn drain(&mut self, now: Instant) {
        let mut growth = 0isize;
        while let Ok(event) = self.shared.rx.try_recv() {
            match event {
                Event::Log {
                    id,
                    trace,
                    ts,
                    capture,
                    start,
                } => {
                    if let Some(path) = start {
                        self.on_start(path);
                    }
                    self.on_log(id, trace, ts, capture, now, &mut growth);
                }
                Event::RequestStarted { id, meta } => self.batcher.request_started(id, meta),
                Event::RequestFinished {
                    id,
                    status,
                    ended_at,
                    duration_ms,
                } => {
                    let seq = self.received;
                    self.received += 1;
                    // False when no payload is needed (or the start was lost): resolved now.
                    self.batcher
                        .request_finished(&id, status, ended_at, duration_ms, seq, now);
                }
                Event::Flush { reply } => self.on_flush(reply),
            }
        }
        self.shared.account_growth(growth);
    }

    /// A request's start that came with its first log: its info is read from its context here, on the
    /// worker, not copied on the logging thread.
    fn on_start(&mut self, path: RequestPath) {
        let ctx = path.context();
        let Some(request) = ctx.request() else {
            return;
        };
        let id = ctx.correlation_id().clone();
        let (method, started_at, record_always) = (
            request.method.clone(),
            Timestamp(unix_micros(request.started_at)),
            request.record_always,
        );
        let meta = RequestMeta {
            method,
            path,
            started_at,
            status: None,
            ended_at: None,
            duration_ms: None,
            record_always,
        };
        self.batcher.request_started(id, meta);
    }

    fn on_log(
        &mut self,
        id: Option<CorrelationId>,
        trace: Option<TraceContext>,
        ts: Timestamp,
        capture: Capture,
        now: Instant,
        growth: &mut isize,
    ) {
        let seq = self.received;
        self.received += 1;
        if let Some(body) = self.shared.render(capture, growth) {
            let entry = LogEntry {
                ts,
                trace,
                body,
                seq,
            };
            self.batcher.log(id, entry, now);
        }
        if growth.unsigned_abs() > 1 << 20 {
            self.shared.account_growth(std::mem::take(growth));
        }
    }

    fn on_flush(&mut self, reply: mpsc::Sender<()>) {
        self.shared.retry_now.notify_waiters();
        self.batcher.add_fence(self.received);
        self.flushes.push(PendingFlush {
            fence: self.received,
            drained_at: None,
            reply,
        });
    }

    /// Takes the batches that are due (all that are held while a flush, a shutdown or the first batch
    /// presses) and spawns a delivery for each, up to `max_in_flight` at once.
    fn spawn_deliveries(&mut self, now: Instant) {
        if !self.first_taken && self.first_due.is_none() && !self.batcher.is_idle() {
            self.first_due = Some(now + FIRST_BATCH_WAIT);
        }
        let first_now = self.first_due.is_some_and(|due| now >= due);
        let forced = !self.flushes.is_empty() || self.shutdown.is_some() || first_now;
        let mut refilled = false;
        while self.in_flight.len() < self.max_in_flight
            && (self.batcher.ready(now) || (forced && !self.batcher.is_idle()))
        {
            if !refilled {
                // The part-log `Vec`s of batches delivered since, for these batches' parts.
                let batcher = &mut self.batcher;
                self.shared
                    .pools
                    .with_part_logs(|spares| batcher.give_part_logs(spares));
                refilled = true;
            }
            let (content, oversized) = self.batcher.take();
            self.drop_oversized(&oversized);
            let Some(content) = content else { break };
            self.spawn_delivery(content);
        }
    }

    /// Counts (and reports) the logs the batcher left out as larger than a whole batch.
    fn drop_oversized(&self, oversized: &Oversized) {
        if oversized.logs > 0 {
            self.shared.counters.drop_logs(oversized.logs);
            self.shared.release(oversized.accounted_bytes);
            self.shared.reporter.limited(
                "oversized",
                "logiscout: a log larger than max_batch_bytes was dropped",
            );
        }
    }

    fn spawn_delivery(&mut self, content: BatchContent) {
        self.first_taken = true;
        self.first_due = None;
        let unsettled = Unsettled::new(self.shared.clone(), &content);
        let number = self.next_delivery;
        self.next_delivery += 1;
        self.outstanding.insert(number);
        let delivery = self.delivery.clone();
        self.in_flight.spawn(async move {
            delivery.deliver(content, unsettled).await;
            number
        });
    }

    /// A flush is done when everything received before its fence has left the batcher (phase one: then
    /// every such record is in a delivery numbered below `next_delivery`, or dropped) and those
    /// deliveries have all ended, sent or given up on (phase two).
    fn answer_flushes(&mut self) {
        let (batcher, outstanding) = (&self.batcher, &self.outstanding);
        let next_delivery = self.next_delivery;
        self.flushes.retain_mut(|f| {
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
    }

    /// After a shutdown request, once everything is delivered or its deadline passed: aborts what is in
    /// flight, counts what is left as dropped, answers the flushes and the shutdown. `true` when done.
    async fn finish_if_shut_down(&mut self) -> bool {
        let Some(deadline) = self.shutdown.as_ref().map(|(deadline, _)| *deadline) else {
            return false;
        };
        let drained =
            self.batcher.is_idle() && self.in_flight.is_empty() && self.shared.rx.is_empty();
        if !drained && Instant::now() < deadline {
            return false;
        }
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        self.shared.discard_queued();
        let left = self.batcher.pending_logs() as u64;
        if left > 0 {
            self.shared.counters.drop_logs(left);
        }
        self.shared.buffered_bytes.store(0, Ordering::Relaxed);
        for f in self.flushes.drain(..) {
            let _ = f.reply.send(());
        }
        if let Some((_, reply)) = self.shutdown.take() {
            let _ = reply.send(drained);
        }
        true
    }

    /// The next time the loop must look even if nobody wakes it: a tick, the batcher's deadline, the
    /// first batch's, or the shutdown's.
    fn wake_at(&self) -> Instant {
        let mut wake_at = Instant::now() + TICK;
        if let Some(d) = self.batcher.deadline() {
            wake_at = wake_at.min(d);
        }
        if let Some(d) = self.first_due {
            wake_at = wake_at.min(d);
        }
        if let Some((deadline, _)) = &self.shutdown {
            wake_at = wake_at.min(*deadline);
        }
        wake_at
    }

    /// Waits for a wake-up from the hot path (or a flush, or shutdown), the next deadline, or the end of
    /// a delivery.
    async fn wait(&mut self) {
        let wake_at = self.wake_at();
        let shared = &*self.shared;
        // Announce the wait, then look once more: a record pushed before the announcement was seen by
        // no waker (its call saw `waiting == false`), so a queue that reached the threshold meanwhile
        // is taken now. SeqCst on both sides: either the call sees `waiting` or this sees its record.
        shared.waiting.store(true, Ordering::SeqCst);
        if shared.rx.len() < shared.wake_at {
            let in_flight = &mut self.in_flight;
            tokio::select! {
                _ = shared.wake.notified() => {}
                _ = tokio::time::sleep_until(wake_at.into()) => {}
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(number) = joined {
                        self.outstanding.remove(&number);
                    }
                }
            }
        } else {
            tokio::task::yield_now().await;
        }
        shared.waiting.store(false, Ordering::SeqCst);
    }
}
