//! The counters behind [`stats`](crate::stats): the atomics every thread writes ([`Counters`]) and the
//! snapshots users read ([`Stats`], [`FlushReport`]). The bottom layer of `ship/`: it imports nothing of it.
//!
//! Accounting: every record offered for shipping increments `logs_enqueued` once and, later, exactly one of
//! `logs_sent` or `logs_dropped`; until then it is pending (in the queue, the batcher, or in flight).

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Each batch a delivery starts counts once, here or in `batches_failed`, when its delivery ends or
    /// is abandoned at the shutdown deadline.
    pub batches_sent: u64,
    /// Retry attempts (one batch retried three times counts three).
    pub batches_retried: u64,
    /// Batches in which at least one log was dropped (refused, retries exhausted, a single log too large
    /// even alone, or still undelivered when the shutdown deadline abandoned it; a batch the endpoint had
    /// already answered `2xx` when abandoned is sent, not failed), and batches without logs (request
    /// starts and ends only) that were refused; a batch split after a `413` counts once.
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

/// The live counters, shared by the logging threads, the worker and its deliveries.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) enqueued: AtomicU64,
    pub(super) sent: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) batches_sent: AtomicU64,
    pub(super) batches_retried: AtomicU64,
    pub(super) batches_failed: AtomicU64,
    /// Drops not yet reported in a batch's `dropped_logs`.
    pub(super) unreported_drops: AtomicU64,
    /// Records dropped because the queue or the byte cap was full (the worker reports them on stderr,
    /// at most once per `drop_report_every`, with the count since the last report).
    pub(super) full_drops: AtomicU64,
    /// Records made after shutdown (dropped; reported on stderr).
    pub(super) after_shutdown: AtomicU64,
    /// Request start/end events lost to a full queue (`Stats::request_events_dropped`).
    pub(super) events_dropped: AtomicU64,
    /// Request ends handed to the worker (tests check that quiet requests send none; `flush` tracks ends
    /// through its fence, so nothing else needs this count).
    #[cfg(test)]
    pub(super) ends_enqueued: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> Stats {
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

    #[inline]
    pub(super) fn drop_logs(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::SeqCst);
        self.unreported_drops.fetch_add(n, Ordering::Relaxed);
    }
}
