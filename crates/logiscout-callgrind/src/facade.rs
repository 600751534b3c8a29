//! Issue 18's floor and the facade floor, shared by `crates/logiscout-bench/benches/hot_floor.rs`,
//! `crates/logiscout-bench/benches/hot_facade_floor.rs` (timings) and `src/facade_floor.rs` (instruction
//! counts), each of which includes this file with `#[path]`.
//!
//! - [`floor_log`], the **floor**: the cheapest honest hand-off of the benchmark record to another thread.
//!   The owned record ([`FloorRecord`]) is the minimum that can leave the calling thread without borrowing
//!   from it: the clock read (every logger timestamps at the call), the level, the integer and the float by
//!   value, the string value copied into a `String` (one allocation: it is borrowed from the caller), the
//!   message as `&'static str` (a literal message needs no copy, as `log`'s `Arguments::as_str` allows),
//!   and the correlation ID of the current scope as a shared `Arc<str>` read from a thread-local (one
//!   reference-count increment). It is `try_send` into a `crossbeam_channel::bounded(65_536)` (the kind of
//!   queue logiscout's worker reads), drained by a consumer thread that only counts and drops records.
//! - [`FacadeFloor`], the **facade floor**: the same owned record through the same queue, made from what
//!   `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` hands a
//!   `log::Log`: the macro's level check, the `Record`, the dynamic `log` call, and one visit of the
//!   key-values (`log::kv::Source::visit`, `value_bag`'s dispatch) that picks the three fields by name into
//!   the record's typed fields. Nothing a general logger needs is here (no filter by target, no copy of the
//!   keys, no cap, no escaping, no accounting): it is the least any `log` backend with key-values does.

#![allow(dead_code)] // each includer uses a part

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crossbeam_channel::Sender;
use log::kv::{Key, Value, VisitSource};
use log::{Level, Log, Metadata, Record};

/// The queue's capacity.
const QUEUE_CAPACITY: usize = 65_536;

/// The benchmark record, owned, as it crosses to the consumer thread.
#[allow(dead_code)] // The consumer only drops records: the fields are the cost being measured.
pub(crate) struct FloorRecord {
    time: SystemTime,
    level: Level,
    user_id: u64,
    ratio: f64,
    region: String,
    message: &'static str,
    correlation_id: Option<Arc<str>>,
}

static QUEUE: OnceLock<Sender<FloorRecord>> = OnceLock::new();
static SEND_FAILED: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SCOPE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Starts the consumer thread (once per process).
pub(crate) fn start_consumer() {
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
}

/// Records the consumer received so far.
pub(crate) fn received() -> u64 {
    RECEIVED.load(Ordering::SeqCst)
}

/// `try_send`s that found the queue full (the benches assert there are none).
pub(crate) fn send_failed() -> u64 {
    SEND_FAILED.load(Ordering::SeqCst)
}

/// Whether the consumer has taken `calls` records (received or refused by a full queue), and what it has
/// so far: for a bench's untimed wait.
pub(crate) fn progress(calls: u64) -> (bool, String) {
    let received = received();
    (
        received + send_failed() >= calls,
        format!("consumer received {received} of {calls} records"),
    )
}

/// After a bench of `name`: every one of its `calls` timed calls reached the consumer, and none found the
/// queue full (a bench must not measure that path).
pub(crate) fn check_delivered(name: &str, calls: u64) {
    let received = received();
    let failed = send_failed();
    eprintln!(
        "{name}: {calls} timed calls, consumer received {received}, try_send failed {failed}"
    );
    assert_eq!(failed, 0, "the bench must not measure the queue-full path");
    assert_eq!(
        received, calls,
        "every timed call must have reached the consumer"
    );
}

/// Runs `body` with `id` as this thread's current correlation ID.
pub(crate) fn scope<R>(id: &Arc<str>, body: impl FnOnce() -> R) -> R {
    let previous = SCOPE.with(|s| s.replace(Some(id.clone())));
    let result = body();
    SCOPE.with(|s| *s.borrow_mut() = previous);
    result
}

fn hand_off(record: FloorRecord) {
    let queue = QUEUE.get().expect("the floor queue is not set up");
    if queue.try_send(record).is_err() {
        SEND_FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

fn current_id() -> Option<Arc<str>> {
    SCOPE.with(|s| s.borrow().clone())
}

/// The floor's call: builds the owned record from plain arguments and hands it off.
#[inline(never)]
pub(crate) fn floor_log(
    level: Level,
    user_id: u64,
    ratio: f64,
    region: &str,
    message: &'static str,
) {
    hand_off(FloorRecord {
        time: SystemTime::now(),
        level,
        user_id,
        ratio,
        region: region.to_owned(),
        message,
        correlation_id: current_id(),
    });
}

/// The three fields, picked out of the record's key-values by name.
#[derive(Default)]
struct Fields {
    user_id: u64,
    ratio: f64,
    region: String,
}

impl<'kvs> VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        match key.as_str() {
            "user_id" => self.user_id = value.to_u64().unwrap_or_default(),
            "ratio" => self.ratio = value.to_f64().unwrap_or_default(),
            "region" => {
                if let Some(s) = value.to_borrowed_str() {
                    self.region = s.to_owned();
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The least `log::Log` that makes the floor's record from a `log::info!` with key-values (level `Info`;
/// `log::set_max_level` does the macros' static check).
pub(crate) struct FacadeFloor;

impl Log for FacadeFloor {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record<'_>) {
        let mut fields = Fields::default();
        let _ = record.key_values().visit(&mut fields);
        hand_off(FloorRecord {
            time: SystemTime::now(),
            level: record.level(),
            user_id: fields.user_id,
            ratio: fields.ratio,
            region: fields.region,
            message: record.args().as_str().unwrap_or(""),
            correlation_id: current_id(),
        });
    }

    fn flush(&self) {}
}
