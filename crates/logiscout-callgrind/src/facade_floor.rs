//! Issue 18's floor and the facade floor (both described in `src/facade.rs`), in instructions per call on
//! the calling thread, counted in one run:
//!
//! ```text
//! cargo build --release -p logiscout-callgrind --bin facade_floor
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect=facade_floor::measure_floor \
//!     --toggle-collect=facade_floor::measure_facade_floor --callgrind-out-file=/tmp/ff.out \
//!     target/release/facade_floor
//! callgrind_annotate --inclusive=yes /tmp/ff.out | grep measure_
//! ```
//!
//! The two alternate in [`ROUNDS`] rounds of [`ROUND`] calls, each round after a drain (the consumer took
//! every record), so both meet the allocator in the same state: the records' `String`s are freed on the
//! consumer's thread, and how many of them the calling thread gets back for its next allocations moves
//! the floor's count by a third when one function runs all its calls first. The program prints
//! `measured <function> <calls>`.

#[path = "facade.rs"]
mod facade;

use std::sync::Arc;
use std::time::Duration;

use log::{Level, LevelFilter};

/// Calls per round (below the queue's capacity: no call finds it full), measured rounds per function,
/// and the unmeasured rounds of each first.
const ROUND: u64 = 2_000;
const ROUNDS: u64 = 10;
const WARM_UP_ROUNDS: u64 = 2;

static LOGGER: facade::FacadeFloor = facade::FacadeFloor;

fn floor_calls(first: u64, n: u64) {
    for i in first..first + n {
        facade::floor_log(Level::Info, i, 0.25, "eu-west-1", "Order created okay!!");
    }
}

fn facade_calls(first: u64, n: u64) {
    for i in first..first + n {
        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
    }
}

#[inline(never)]
fn measure_floor(first: u64) {
    floor_calls(first, ROUND);
}

#[inline(never)]
fn measure_facade_floor(first: u64) {
    facade_calls(first, ROUND);
}

/// Waits until the consumer took every record sent so far.
fn drain(sent: u64) {
    while facade::received() + facade::send_failed() < sent {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn main() {
    facade::start_consumer();
    log::set_logger(&LOGGER).expect("no other logger in this process");
    log::set_max_level(LevelFilter::Info);
    let id: Arc<str> = Arc::from("bench-request-0001");
    let mut sent = 0;
    facade::scope(&id, || {
        for _ in 0..WARM_UP_ROUNDS {
            floor_calls(sent, ROUND);
            facade_calls(sent, ROUND);
            sent += 2 * ROUND;
            drain(sent);
        }
        for _ in 0..ROUNDS {
            measure_floor(sent);
            sent += ROUND;
            drain(sent);
            measure_facade_floor(sent);
            sent += ROUND;
            drain(sent);
        }
    });
    println!("measured facade_floor::measure_floor {}", ROUNDS * ROUND);
    println!(
        "measured facade_floor::measure_facade_floor {}",
        ROUNDS * ROUND
    );
    assert_eq!(facade::send_failed(), 0, "the queue was never full");
}
