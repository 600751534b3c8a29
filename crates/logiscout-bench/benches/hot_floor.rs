//! The **floor** of the hot-path comparison (function `floor_queue`): the cheapest honest hand-off of the
//! benchmark record to another thread, with nothing else. No `log` facade, no formatting, no encoding: a
//! plain `#[inline(never)]` function builds the record as an owned value and `try_send`s it into a
//! `crossbeam_channel::bounded(65_536)` (the kind of queue logiscout's worker reads), drained by a consumer
//! thread that only counts and drops what it receives. Any real logger that hands records to another thread
//! does at least this much on the calling thread.
//!
//! `cargo bench -p logiscout-bench --bench hot_floor`
//!
//! The owned record and the call are in `crates/logiscout-callgrind/src/facade.rs` (shared with the
//! facade floor's bench and the instruction counts of `facade_floor`), described there.
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once, each in its own scope; the figure is wall time per call =
//! 1 / aggregate throughput, each thread's own time per call is about twice it) and `disabled_level`: a
//! debug call behind the floor's static level check, one relaxed atomic load compared with the level (what
//! `log`'s macros do with `log::max_level()`), with the maximum level set to info. Criterion writes
//! `target/criterion/<group>/floor_queue/new/estimates.json`.
//!
//! Every 10,000 calls the bench waits, untimed, until the consumer received them all, so the queue never
//! fills; at the end it asserts that no `try_send` failed and that received = timed calls.

#[path = "../../logiscout-callgrind/src/facade.rs"]
mod facade;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use facade::{floor_log, scope};
use log::Level;
use logiscout_bench::peers;

const NAME: &str = "floor_queue";

static MAX_LEVEL: AtomicUsize = AtomicUsize::new(0);

/// The static level check at the call site.
#[inline(always)]
fn enabled(level: Level) -> bool {
    level as usize <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Starts the consumer thread and sets the level to info.
fn init() {
    facade::start_consumer();
    MAX_LEVEL.store(Level::Info as usize, Ordering::Relaxed);
}

fn drain() {
    let calls = peers::calls_made();
    peers::wait_until(NAME, || facade::progress(calls));
}

fn call(i: u64) {
    if enabled(Level::Info) {
        floor_log(Level::Info, i, 0.25, "eu-west-1", "Order created okay!!");
    }
}

fn bench(c: &mut Criterion) {
    init();
    let id: Arc<str> = Arc::from(peers::CORRELATION_ID);

    let mut group = c.benchmark_group(peers::GROUP_1_THREAD);
    group.bench_function(NAME, |b| {
        b.iter_custom(|iters| scope(&id, || peers::one_thread(iters, call, drain)))
    });
    group.finish();

    let mut group = c.benchmark_group(peers::GROUP_2_THREADS);
    group.throughput(Throughput::Elements(1));
    group.bench_function(NAME, |b| {
        b.iter_custom(|iters| peers::two_threads(iters, |body| scope(&id, body), call, drain))
    });
    group.finish();

    let mut group = c.benchmark_group(peers::GROUP_DISABLED);
    group.bench_function(NAME, |b| {
        b.iter(|| {
            if enabled(Level::Debug) {
                floor_log(Level::Debug, 1, 0.25, "eu-west-1", "Order created okay!!");
            }
        })
    });
    group.finish();

    drain();
    facade::check_delivered(NAME, peers::calls_made());
}

logiscout_bench::peer_bench_main!(bench);
