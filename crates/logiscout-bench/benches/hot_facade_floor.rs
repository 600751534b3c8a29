//! The **facade floor** of the hot-path comparison (function `facade_floor`): the floor's owned record
//! through the floor's queue, but made from what `log::info!(user_id = i, ratio = 0.25, region =
//! "eu-west-1"; "Order created okay!!")` hands a `log::Log` (the `Record`, the dynamic call, one visit of
//! the key-values picking the three fields by name). It is the least any `log` backend with key-values
//! does per call: the floor (`hot_floor`) takes the same values as plain arguments, and logiscout, env_logger,
//! OpenTelemetry and ftlog all pay at least this. The logger and the record are in
//! `crates/logiscout-callgrind/src/facade.rs`; `facade_floor` (a bin of that crate) counts the instructions
//! of both floors under callgrind.
//!
//! `cargo bench -p logiscout-bench --bench hot_facade_floor`
//!
//! Groups: the three of every `log` backend (`benches/common/mod.rs`), each thread in its own correlation
//! scope (the floor's thread-local `Arc<str>`). Every 10,000 calls the bench waits, untimed, until the
//! consumer received them all; at the end it asserts that no `try_send` failed and that received = timed
//! calls.

mod common;
#[path = "../../logiscout-callgrind/src/facade.rs"]
mod facade;

use std::sync::Arc;

use criterion::Criterion;
use log::LevelFilter;
use logiscout_bench::peers;

const NAME: &str = "facade_floor";

static LOGGER: facade::FacadeFloor = facade::FacadeFloor;

fn drain() {
    let calls = peers::calls_made();
    peers::wait_until(NAME, || facade::progress(calls));
}

fn bench(c: &mut Criterion) {
    facade::start_consumer();
    log::set_logger(&LOGGER).expect("install the facade floor as the log backend");
    log::set_max_level(LevelFilter::Info);
    let id: Arc<str> = Arc::from(peers::CORRELATION_ID);

    common::log_facade_groups(c, NAME, |body| facade::scope(&id, body), drain);

    drain();
    facade::check_delivered(NAME, peers::calls_made());
}

logiscout_bench::peer_bench_main!(bench);
