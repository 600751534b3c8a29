//! No heap allocation per event in steady state: tracing events with fields (typed, `?` and `%` values,
//! a formatted message, errors with a `source()` chain), inside nested spans with fields (one recorded
//! later with `Span::record`, one name in both spans) and a correlation scope, through a real
//! `tracing_subscriber::registry()` and logiscout's layer into the real pipeline, shipping on
//! (`Env::Prod`) to a loopback ingest server.
//!
//! A counting global allocator counts the allocations made **on the thread that emits the events**, and
//! only while it emits them: the shipping worker and the server allocate on their own threads (render,
//! batch, HTTP), and the waits for delivery between rounds are not counted. The count asserted is 0:
//! the event's fields go into a per-thread buffer that is reused, its spans' fields were encoded when
//! the spans were created or recorded, and the capture buffer comes from logiscout's pool, which the
//! worker refills as it renders.
//!
//! Outside steady state an event does allocate: on a thread's first events (its buffers grow to the
//! largest event it has seen, kept up to 16 KiB); in a burst longer than the pool holds (today 1,024
//! spare capture buffers, plus 32 cached per thread: logiscout-core's `ship/pool.rs`), one allocation
//! per event for a fresh capture buffer, and a reallocation when its capture passes the 128 bytes a new
//! buffer starts with; and for an event emitted while another is being recorded on the same thread (a
//! value's `Debug` that logs), which gets buffers of its own. Creating a span with fields allocates
//! (printed below: 5 for 2 fields), once per span, not per event.
//!
//! In a file of its own (one test binary, one test): the allocator and the logger are the process's.

// A counting global allocator implements the unsafe `GlobalAlloc` trait; it only forwards to `System`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use logiscout_core::correlation::{self, CorrelationId};
use logiscout_testkit::IngestServer;
use tracing_subscriber::prelude::*;

/// The system allocator, counting the allocations of the threads that ask it to.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are being counted, and how many were made while they were.
    /// Const-initialised, without a destructor: reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn counted() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a thread-local counter is
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment failed")
    }
}
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Inner {}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Events per round; after each round the test waits (uncounted) for delivery, as the benches do, so
/// no event takes the "queue full" path.
const ROUND: u64 = 100;
const WARM_UP_ROUNDS: u64 = 20;
const COUNTED_ROUNDS: u64 = 20;

fn delivered() {
    assert!(
        logiscout_core::flush(Duration::from_secs(30)).complete,
        "flush"
    );
}

#[test]
fn an_event_in_spans_allocates_nothing_in_steady_state() {
    let server = IngestServer::start();
    let guard = logiscout_core::init(
        logiscout_core::Config::new("tracing-allocations")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_test")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout_tracing::layer()),
    )
    .expect("global subscriber");

    let err = Outer(Inner);
    let events = |round: u64| {
        for i in 0..ROUND {
            let n = round * ROUND + i;
            tracing::info!(
                user_id = n,
                ratio = 0.25,
                region = "eu-west-1",
                pair = ?(n, "x"),
                shown = %"displayed",
                "Order {} created",
                n
            );
            if i % 10 == 0 {
                tracing::error!(
                    error = &err as &(dyn std::error::Error + 'static),
                    attempt = i,
                    "Charge failed"
                );
            }
        }
    };

    let mut counted = Vec::new();
    correlation::sync_scope(CorrelationId::new("alloc-request-1"), || {
        let request = tracing::info_span!(
            "request",
            method = "GET",
            path = "/orders",
            status = tracing::field::Empty
        );
        let _request = request.enter();
        let step = tracing::info_span!("step", attempt = 1u64, path = "/orders/42");
        let _step = step.enter();
        request.record("status", 200u64);
        for round in 0..WARM_UP_ROUNDS {
            events(round);
            delivered();
        }
        for round in WARM_UP_ROUNDS..WARM_UP_ROUNDS + COUNTED_ROUNDS {
            counted.push(allocations(|| events(round)));
            delivered();
        }
    });

    // A span's fields are encoded when it is created (not per event): what that costs, for the report.
    let span_allocations = allocations(|| {
        for _ in 0..ROUND {
            let span = tracing::info_span!("request", method = "GET", path = "/orders");
            let _entered = span.enter();
        }
    });
    eprintln!("{span_allocations} allocations for {ROUND} spans with 2 fields, created and closed");

    let per_round = ROUND + ROUND / 10;
    let total_events = (WARM_UP_ROUNDS + COUNTED_ROUNDS) * per_round;
    let stats = logiscout_core::stats();
    assert_eq!(stats.logs_dropped, 0, "{stats:?}");
    assert_eq!(
        stats.logs_sent, total_events,
        "every event was shipped: {stats:?}"
    );

    // What arrived is the whole event: its fields, its spans' (inner winning), the error's chain.
    let logs = server.accepted_logs();
    let last = logs
        .iter()
        .rev()
        .find(|(_, l)| l["level"] == "info")
        .map(|(cid, l)| (cid.clone(), l.clone()))
        .expect("an info event");
    let n = (WARM_UP_ROUNDS + COUNTED_ROUNDS) * ROUND - 1;
    assert_eq!(last.0, "alloc-request-1");
    assert_eq!(last.1["message"], format!("Order {n} created"));
    let m = &last.1["metadata"];
    assert_eq!(m["user_id"], n);
    assert_eq!(m["ratio"], 0.25);
    assert_eq!(m["region"], "eu-west-1");
    assert_eq!(m["pair"], format!("({n}, \"x\")"));
    assert_eq!(m["shown"], "displayed");
    assert_eq!(m["method"], "GET");
    assert_eq!(m["status"], 200, "Span::record");
    assert_eq!(m["path"], "/orders/42", "the inner span wins");
    assert_eq!(m["attempt"], 1);
    let error = logs
        .iter()
        .rev()
        .find(|(_, l)| l["level"] == "error")
        .expect("an error event");
    assert_eq!(
        error.1["exception"]["traceback"],
        "payment failed\ncaused by: connection reset"
    );
    assert_eq!(
        error.1["metadata"]["attempt"], 90,
        "the event's own field wins"
    );

    let events_counted = COUNTED_ROUNDS * per_round;
    let total: u64 = counted.iter().sum();
    eprintln!(
        "{total} allocations on the logging thread in {events_counted} events (per round: {counted:?})"
    );
    assert_eq!(
        total, 0,
        "allocations per round of {per_round} events, in steady state: {counted:?}"
    );
    drop(guard);
}
