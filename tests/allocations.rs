//! Issue 18: a `log::info!` call with three key-values inside a correlation scope, shipping on and
//! console off, makes no heap allocation on the calling thread in steady state.
//!
//! A counting global allocator counts the allocations (and reallocations) made by the thread that logs,
//! between two points after a warm-up: a count, not a timing, so it is the same on a loaded machine.
//! The worker thread's allocations (rendering, batching, HTTP) are not counted: they are off the
//! application's threads, and bounded by the worker's own caps.
//!
//! Steady state means the pipeline is delivering as fast as the test logs, so capture buffers come back
//! from the worker: the test logs in rounds and flushes between them (a flush does not allocate on the
//! calling thread's hot path and is outside the counted calls).

// A counting global allocator implements the unsafe `GlobalAlloc` trait; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use logiscout::correlation::{self, CorrelationId};
use logiscout_testkit::IngestServer;

struct Counting;

thread_local! {
    /// Allocations made by this thread while `COUNTING` is set.
    static COUNT: Cell<u64> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    // `try_with`: the allocator runs during thread setup and teardown too.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}

/// Well under the capture-buffer pool (32 bundles of 32 buffers): a round never needs more buffers than
/// the pool holds, however late the worker thread runs. A burst of more records than the pool holds before
/// the worker renders any allocates fresh buffers for the excess (counted in docs/benchmarks.md).
const CALLS_PER_ROUND: u64 = 200;
const ROUNDS: u64 = 50;

#[inline(never)]
fn log_round(round: u64) {
    for i in 0..CALLS_PER_ROUND {
        log::info!(order_id = i, ratio = 0.5, region = "eu-west-1"; "Order created");
    }
    std::hint::black_box(round);
}

#[test]
fn a_log_call_allocates_nothing_in_steady_state() {
    let server = IngestServer::start_discarding();
    let guard = logiscout::init(
        logiscout::Config::new("allocations-test")
            .env(logiscout::Env::Prod)
            .api_token("lgs_allocations_token")
            .endpoint(server.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info")
            .max_batch_wait(Duration::from_millis(50)),
    )
    .expect("init");
    // The counter counts: one `Vec` is one allocation.
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(vec![1u8; 10]))),
        1
    );
    let ctx = CorrelationId::new("alloc-test-1");
    correlation::sync_scope(ctx, || {
        // Warm-up: pools filled, the request announced, thread-locals made.
        for round in 0..20 {
            log_round(round);
            assert!(logiscout::flush(Duration::from_secs(10)).complete);
        }
        let mut counted = Vec::new();
        for round in 0..ROUNDS {
            counted.push(allocations_in(|| log_round(round)));
            assert!(logiscout::flush(Duration::from_secs(10)).complete);
        }
        let total: u64 = counted.iter().sum();
        eprintln!(
            "allocations: {total} in {} calls ({:.3} per call), per round of {CALLS_PER_ROUND}: {counted:?}",
            ROUNDS * CALLS_PER_ROUND,
            total as f64 / (ROUNDS * CALLS_PER_ROUND) as f64
        );
        assert_eq!(
            total, 0,
            "log calls allocated on the calling thread in steady state: {counted:?} per {CALLS_PER_ROUND} calls"
        );
    });
    let stats = logiscout::stats();
    assert_eq!(stats.logs_dropped, 0, "{stats:?}");
    drop(guard);
}
