//! What issue 18's floor costs, and what the least a logger can do through the `log` facade costs, in
//! instructions per call on the calling thread (run it under callgrind, as below).
//!
//! - `measure_floor`: the floor of `crates/logiscout-bench/benches/hot_floor.rs`, unchanged: the owned
//!   record (time, level, `user_id`, `ratio`, `region` as a `String`, the literal message, the scope's
//!   correlation ID) built from plain arguments and pushed through a bounded crossbeam queue to a consumer
//!   thread.
//! - `measure_facade_floor`: the same owned record through the same queue, but made from what
//!   `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` hands a
//!   `log::Log`: the macro's level check, the `Record`, the dynamic `log` call, and one visit of the
//!   key-values (`log::kv::Source::visit`, `value_bag`'s dispatch) that picks the three fields by name into
//!   the record's typed fields. Nothing a general logger needs is here: no filter by target, no copy of
//!   the keys, no cap, no escaping, no accounting. It is the least any `log` backend with key-values does
//!   per call.
//!
//! ```text
//! cargo build --release -p logiscout-callgrind --bin facade_floor
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=facade_floor::measure_floor \
//!     --toggle-collect=facade_floor::measure_facade_floor --callgrind-out-file=/tmp/ff.out \
//!     target/release/facade_floor
//! callgrind_annotate --inclusive=yes /tmp/ff.out | grep measure_
//! ```
//!
//! Each measured function makes [`CALLS`] calls; the program prints `measured <function> <calls>`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use log::kv::{Key, Value, VisitSource};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Calls per measured function, after [`WARM_UP`] unmeasured ones. Below the queue's capacity: no call
/// finds it full.
const CALLS: u64 = 20_000;
const WARM_UP: u64 = 1_000;
const QUEUE_CAPACITY: usize = 65_536;

/// The floor's record (`hot_floor.rs`'s `FloorRecord`).
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
static SEND_FAILED: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SCOPE: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

fn hand_off(record: FloorRecord) {
    let queue = QUEUE.get().expect("the floor queue is set up in main");
    if queue.try_send(record).is_err() {
        SEND_FAILED.fetch_add(1, Ordering::Relaxed);
    }
}

fn current_id() -> Option<Arc<str>> {
    SCOPE.with(|s| s.borrow().clone())
}

/// The floor's call (`hot_floor.rs`'s `floor_log`).
#[inline(never)]
fn floor_log(level: Level, user_id: u64, ratio: f64, region: &str, message: &'static str) {
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

/// The least `log::Log` that makes the floor's record from a `log::info!` with key-values.
struct FacadeFloor;

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

static LOGGER: FacadeFloor = FacadeFloor;

fn floor_calls(first: u64, n: u64) {
    for i in first..first + n {
        floor_log(Level::Info, i, 0.25, "eu-west-1", "Order created okay!!");
    }
}

fn facade_calls(first: u64, n: u64) {
    for i in first..first + n {
        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
    }
}

#[inline(never)]
fn measure_floor(first: u64) {
    floor_calls(first, CALLS);
}

#[inline(never)]
fn measure_facade_floor(first: u64) {
    facade_calls(first, CALLS);
}

/// Waits until the consumer took every record sent so far.
fn drain(sent: u64) {
    while RECEIVED.load(Ordering::SeqCst) + SEND_FAILED.load(Ordering::SeqCst) < sent {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    let (tx, rx) = crossbeam_channel::bounded::<FloorRecord>(QUEUE_CAPACITY);
    std::thread::Builder::new()
        .name("floor-consumer".into())
        .spawn(move || {
            for record in rx {
                drop(record);
                RECEIVED.fetch_add(1, Ordering::SeqCst);
            }
        })
        .expect("spawn the consumer thread");
    assert!(QUEUE.set(tx).is_ok(), "the queue is set up once");
    log::set_logger(&LOGGER).expect("no other logger in this process");
    log::set_max_level(LevelFilter::Info);
    let id: Arc<str> = Arc::from("bench-request-0001");
    SCOPE.with(|s| *s.borrow_mut() = Some(id));

    floor_calls(0, WARM_UP);
    facade_calls(0, WARM_UP);
    drain(2 * WARM_UP);
    measure_floor(WARM_UP);
    drain(2 * WARM_UP + CALLS);
    println!("measured facade_floor::measure_floor {CALLS}");
    measure_facade_floor(WARM_UP);
    drain(2 * WARM_UP + 2 * CALLS);
    println!("measured facade_floor::measure_facade_floor {CALLS}");
    assert_eq!(
        SEND_FAILED.load(Ordering::SeqCst),
        0,
        "the queue was never full"
    );
}
