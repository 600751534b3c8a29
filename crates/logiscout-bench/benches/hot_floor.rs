//! The **floor** of the hot-path comparison (function `floor_queue`): the cheapest honest hand-off of the
//! benchmark record to another thread, with nothing else. No `log` facade, no formatting, no encoding: a
//! plain `#[inline(never)]` function builds the record as an owned value and `try_send`s it into a
//! `crossbeam_channel::bounded(65_536)` (the kind of queue logiscout's worker reads), drained by a consumer
//! thread that only counts and drops what it receives. Any real logger that hands records to another thread
//! does at least this much on the calling thread.
//!
//! `cargo bench -p logiscout-bench --bench hot_floor`
//!
//! The owned record ([`FloorRecord`]) is the minimum that can leave the calling thread without borrowing
//! from it: the clock read (every logger timestamps at the call), the level, the integer and the float by
//! value, the string value copied into a `String` (one allocation: it is borrowed from the caller), the
//! message as `&'static str` (a literal message needs no copy, as `log`'s `Arguments::as_str` allows), and
//! the correlation ID of the current scope as a shared `Arc<str>` read from a thread-local, as logiscout's
//! scope does (one reference-count increment).
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

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use criterion::{Criterion, Throughput};
use crossbeam_channel::Sender;
use log::Level;
use logiscout_bench::peers;

const NAME: &str = "floor_queue";

/// logiscout's queue kind, with this capacity.
const QUEUE_CAPACITY: usize = 65_536;

/// The benchmark record, owned, as it crosses to the consumer thread.
#[allow(dead_code)] // The consumer only drops records: the fields are the cost being measured.
struct FloorRecord {
    time: SystemTime,
    level: Level,
    user_id: u64,
    ratio: f64,
    region: String,
    message: &'static str,
    correlation_id: Option<Arc<str>>,
}

static QUEUE: OnceLock<Sender<FloorRecord>> = OnceLock::new();
static MAX_LEVEL: AtomicUsize = AtomicUsize::new(0);
static SEND_FAILED: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SCOPE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Runs `body` with `id` as this thread's current correlation ID.
fn scope<R>(id: &Arc<str>, body: impl FnOnce() -> R) -> R {
    let previous = SCOPE.with(|s| s.replace(Some(id.clone())));
    let result = body();
    SCOPE.with(|s| *s.borrow_mut() = previous);
    result
}

/// The static level check at the call site.
#[inline(always)]
fn enabled(level: Level) -> bool {
    level as usize <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// The call: builds the owned record and hands it off.
#[inline(never)]
fn floor_log(level: Level, user_id: u64, ratio: f64, region: &str, message: &'static str) {
    let record = FloorRecord {
        time: SystemTime::now(),
        level,
        user_id,
        ratio,
        region: region.to_owned(),
        message,
        correlation_id: SCOPE.with(|s| s.borrow().clone()),
    };
    let queue = QUEUE.get().expect("the floor queue is not set up");
    if queue.try_send(record).is_err() {
        SEND_FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the consumer thread and sets the level to info.
fn init() {
    let (tx, rx) = crossbeam_channel::bounded::<FloorRecord>(QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("floor-consumer".into())
        .spawn(move || {
            for record in rx {
                drop(record);
                RECEIVED.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("spawn the floor consumer thread");
    assert!(QUEUE.set(tx).is_ok(), "the floor queue is set up twice");
    MAX_LEVEL.store(Level::Info as usize, Ordering::Relaxed);
}

fn drain() {
    let calls = peers::calls_made();
    peers::wait_until(NAME, || {
        let received = RECEIVED.load(Ordering::SeqCst);
        let failed = SEND_FAILED.load(Ordering::SeqCst);
        (
            received + failed >= calls,
            format!("consumer received {received} of {calls} records"),
        )
    });
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
    let calls = peers::calls_made();
    let received = RECEIVED.load(Ordering::SeqCst);
    let failed = SEND_FAILED.load(Ordering::SeqCst);
    eprintln!(
        "{NAME}: {calls} timed calls, consumer received {received}, try_send failed {failed}"
    );
    assert_eq!(failed, 0, "the bench must not measure the queue-full path");
    assert_eq!(
        received, calls,
        "every timed call must have reached the consumer"
    );
}

logiscout_bench::peer_bench_main!(bench);
