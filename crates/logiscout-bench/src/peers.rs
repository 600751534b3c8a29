//! The shared driver of the hot-path comparison against peer loggers (`benches/hot_*.rs`, one bench target
//! and so one process per logger, because `log::set_logger` and tracing's global default can be set only
//! once per process).
//!
//! Run them all with `cargo bench -p logiscout-bench`, or one with
//! `cargo bench -p logiscout-bench --bench hot_tracing`. Criterion writes its estimates to
//! `target/criterion/<group>/<function>/new/estimates.json`, with the group names below; this module
//! writes nothing itself.
//!
//! Every target measures the same record (see [`crate::MESSAGE`]) in the same three groups:
//!
//! - [`GROUP_1_THREAD`]: ns per call on one thread ([`one_thread`]).
//! - [`GROUP_2_THREADS`]: two threads logging at once; criterion's figure is **wall time per call**, i.e.
//!   1 / aggregate throughput ([`two_threads`]). Each thread's own time per call is about twice that figure.
//! - [`GROUP_DISABLED`]: a `debug!` call under an `info` filter.
//!
//! In both hot-path groups only the log calls are timed. Every [`CHUNK`] calls (in total over all threads)
//! the driver stops the clock and calls the target's `drain`, which waits until the logger's background
//! thread has delivered everything logged so far, so no queue ever fills and no call takes a cheaper
//! "queue full, drop it" path. [`calls_made`] counts the timed calls, so a target can check at the end that
//! its logger delivered exactly that many records.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// Criterion group: one thread logging.
pub const GROUP_1_THREAD: &str = "hot_path_1_thread";
/// Criterion group: two threads logging at once (time per iteration = wall time per call).
pub const GROUP_2_THREADS: &str = "hot_path_2_threads";
/// Criterion group: `debug!` under an `info` filter.
pub const GROUP_DISABLED: &str = "disabled_level";

/// Criterion measurement time, the same in every target.
pub const MEASUREMENT_TIME: Duration = Duration::from_secs(5);
/// Criterion warm-up time, the same in every target.
pub const WARM_UP_TIME: Duration = Duration::from_secs(2);

/// The `main` of a peer bench target: criterion with [`MEASUREMENT_TIME`] and [`WARM_UP_TIME`], running
/// `$bench`. Every `hot_*` target ends with it (criterion resolves at the call site: bench targets have it).
#[macro_export]
macro_rules! peer_bench_main {
    ($bench:path) => {
        ::criterion::criterion_group! {
            name = benches;
            config = ::criterion::Criterion::default()
                .measurement_time($crate::peers::MEASUREMENT_TIME)
                .warm_up_time($crate::peers::WARM_UP_TIME);
            targets = $bench
        }
        ::criterion::criterion_main!(benches);
    };
}

/// Calls between two (untimed) drains, in total over all logging threads.
pub const CHUNK: u64 = 10_000;

/// How long a drain may wait before the bench gives up with an error.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The correlation ID of the benchmark record (logiscout's scope, tracing's span, the floor's context).
pub const CORRELATION_ID: &str = "bench-request-0001";

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Timed log calls made so far in this process by [`one_thread`] and [`two_threads`] (including
/// criterion's warm-up). Updated before each drain, so a drain can wait for exactly this many records.
pub fn calls_made() -> u64 {
    CALLS.load(Ordering::SeqCst)
}

/// One thread: calls `call(i)` `iters` times (`i` counts from 0 within each chunk of [`CHUNK`], as in
/// `logiscout-core`'s `log_call` bench), timing only the calls; after each chunk, untimed, `drain()`.
///
/// Run it inside the logger's context (correlation scope or span) for the whole measurement.
pub fn one_thread(iters: u64, mut call: impl FnMut(u64), mut drain: impl FnMut()) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let start = Instant::now();
        for i in 0..n {
            call(i);
        }
        timed += start.elapsed();
        left -= n;
        CALLS.fetch_add(n, Ordering::SeqCst);
        drain();
    }
    timed
}

/// Two threads logging at once: each of them does half of the `iters` calls, in rounds of [`CHUNK`] calls
/// in total (`CHUNK / 2` per thread), so the logger's queue sees the same number of records between two
/// drains as with one thread.
///
/// Each round, both threads are released together by a [`Barrier`] and each notes when it started and
/// finished its share; the round's time is wall-clock time from the first start to the last finish. Between
/// rounds, untimed, the calling thread runs `drain()` while both loggers wait.
///
/// The result is wall time for `iters` calls: with `Throughput::Elements(1)` criterion's time per iteration
/// is wall time per call = 1 / aggregate throughput. Each thread's own time per call is about twice that.
///
/// `in_context` runs a thread's whole share inside the logger's context (each thread enters its own
/// correlation scope or span): it must call the closure it is given exactly once.
pub fn two_threads<C, F>(iters: u64, in_context: C, call: F, mut drain: impl FnMut()) -> Duration
where
    C: Fn(&mut dyn FnMut()) + Sync,
    F: Fn(u64) + Sync,
{
    // Thread k's share: thread 0 takes the odd call out.
    let shares = [iters - iters / 2, iters / 2];
    let per_thread_round = CHUNK / 2;
    let rounds = shares[0].div_ceil(per_thread_round);
    let in_round = |share: u64, round: u64| {
        share
            .saturating_sub(round * per_thread_round)
            .min(per_thread_round)
    };

    // Two loggers and this (coordinating) thread.
    let barrier = Barrier::new(3);
    let spans: [Mutex<Option<(Instant, Instant)>>; 2] = [Mutex::new(None), Mutex::new(None)];
    let mut timed = Duration::ZERO;

    std::thread::scope(|s| {
        for (k, &share) in shares.iter().enumerate() {
            let (barrier, spans, call, in_context) = (&barrier, &spans, &call, &in_context);
            std::thread::Builder::new()
                .name(format!("bench-logger-{k}"))
                .spawn_scoped(s, move || {
                    in_context(&mut || {
                        for round in 0..rounds {
                            let n = in_round(share, round);
                            barrier.wait();
                            let start = Instant::now();
                            for i in 0..n {
                                call(i);
                            }
                            let end = Instant::now();
                            *spans[k].lock().expect("bench span slot poisoned") =
                                Some((start, end));
                            barrier.wait();
                        }
                    })
                })
                .expect("spawn a bench logging thread");
        }
        for round in 0..rounds {
            barrier.wait(); // release both threads
            barrier.wait(); // both finished their share of this round
            let [a, b] = spans.each_ref().map(|slot| {
                slot.lock()
                    .expect("bench span slot poisoned")
                    .take()
                    .expect("a logging thread did not report its round")
            });
            timed += a.1.max(b.1) - a.0.min(b.0);
            CALLS.fetch_add(
                in_round(shares[0], round) + in_round(shares[1], round),
                Ordering::SeqCst,
            );
            drain();
        }
    });
    timed
}

/// Waits (polling, untimed) until `done()` is true; panics with `what` and the last progress report if it is
/// still false after [`DRAIN_TIMEOUT`]. `done` returns `(finished, progress)`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> (bool, String)) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let (finished, progress) = done();
        if finished {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not done after {DRAIN_TIMEOUT:?} ({progress}); records were lost or the logger's thread is stuck"
        );
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// A writer that throws the bytes away like [`std::io::sink`], but counts its `write` calls and keeps a copy
/// of the first one, so a bench can check that every record reached the output and show what one looked like.
///
/// The loggers given one (tracing-appender's worker, ftlog's thread) write each formatted record with one
/// `write_all`, which is one `write` call here since every call takes the whole buffer: writes = records.
/// The counting happens on the logger's own output thread, not on the timed calling thread.
#[derive(Debug, Clone, Default)]
pub struct CountingSink(Arc<SinkState>);

#[derive(Debug, Default)]
struct SinkState {
    writes: AtomicU64,
    first: Mutex<Option<String>>,
}

impl CountingSink {
    /// A new sink with no writes counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// `write` calls so far (= records, for the loggers above).
    pub fn writes(&self) -> u64 {
        self.0.writes.load(Ordering::SeqCst)
    }

    /// The bytes of the first `write` call, as text, if there was one.
    pub fn first(&self) -> Option<String> {
        self.0.first.lock().ok().and_then(|first| first.clone())
    }

    /// Waits until `records` writes were counted (see [`wait_until`]).
    pub fn wait_for(&self, logger: &str, records: u64) {
        wait_until(logger, || {
            let writes = self.writes();
            (
                writes >= records,
                format!("{writes} of {records} records written"),
            )
        });
    }
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.writes.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Ok(mut first) = self.0.first.lock() {
                *first = Some(String::from_utf8_lossy(buf).into_owned());
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_makes_every_call_and_drains_per_chunk() {
        let before = calls_made();
        let mut calls = 0u64;
        let mut drains = 0;
        one_thread(25_001, |_| calls += 1, || drains += 1);
        assert_eq!(calls, 25_001);
        assert_eq!(drains, 3);
        assert!(calls_made() - before >= 25_001);
    }

    #[test]
    fn two_threads_make_every_call_in_context() {
        let calls = AtomicU64::new(0);
        let contexts = AtomicU64::new(0);
        let mut drains = 0;
        two_threads(
            25_001,
            |body| {
                contexts.fetch_add(1, Ordering::SeqCst);
                body()
            },
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            },
            || drains += 1,
        );
        assert_eq!(calls.load(Ordering::SeqCst), 25_001);
        assert_eq!(contexts.load(Ordering::SeqCst), 2);
        assert_eq!(drains, 3); // 12,501 per thread in rounds of 5,000
        for iters in [0, 1, 2, 3] {
            let calls = AtomicU64::new(0);
            two_threads(
                iters,
                |body| body(),
                |_| {
                    calls.fetch_add(1, Ordering::SeqCst);
                },
                || {},
            );
            assert_eq!(calls.load(Ordering::SeqCst), iters);
        }
    }

    #[test]
    fn counting_sink_counts_writes_and_keeps_the_first() {
        let sink = CountingSink::new();
        let mut w = sink.clone();
        w.write_all(b"one\n").unwrap();
        w.write_all(b"two\n").unwrap();
        assert_eq!(sink.writes(), 2);
        assert_eq!(sink.first().as_deref(), Some("one\n"));
        sink.wait_for("test", 2);
    }
}
