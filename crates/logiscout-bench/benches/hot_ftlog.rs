//! Hot path of **ftlog** (function `ftlog`), for the comparison with logiscout:
//! `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` with ftlog as the
//! `log` backend, default features and default formatter, level `Info`, UTC timestamps, writing to a sink.
//! There is no correlation scope: ftlog has none.
//!
//! `cargo bench -p logiscout-bench --bench hot_ftlog`
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once; the figure is wall time per call = 1 / aggregate throughput,
//! each thread's own time per call is about twice it) and `disabled_level` (`debug!` under the `Info`
//! level). Criterion writes `target/criterion/<group>/ftlog/new/estimates.json`.
//!
//! What ftlog does on the calling thread: it scans the key-values for its own `random_drop`/`drop`/`limit`
//! keys, boxes a message (level, thread name, file, line, and the message text, borrowed when it is a
//! literal), copies the target, reads the clock and `try_send`s that to a crossbeam channel. Its own thread
//! formats the line (timestamp, message) and writes it. **Its default formatter does not print key-values**:
//! the three key-values of the record are not in ftlog's output, so its figure does not include formatting
//! them (the bench prints the first line to show this).
//!
//! The channel is ftlog's default: bounded to 100,000 messages, and a message that does not fit is
//! **discarded** (`Builder::bounded(size, block_when_full = false)`; ftlog only prints a count to stderr,
//! at most every 5 s). The output is `peers::CountingSink` (a sink that counts writes, on ftlog's thread;
//! ftlog writes each line with one `write_all`). Every 10,000 calls the bench calls, untimed,
//! `log::logger().flush()` (ftlog writes everything queued before answering) and then checks that lines
//! written = timed calls, so the channel never fills and a discarded record would stop the bench.

mod common;

use criterion::Criterion;
use log::LevelFilter;
use logiscout_bench::peers;

const NAME: &str = "ftlog";

fn bench(c: &mut Criterion) {
    let sink = peers::CountingSink::new();
    let _flush_on_drop = ftlog::builder()
        .max_log_level(LevelFilter::Info)
        .utc()
        .root(sink.clone())
        .try_init()
        .expect("install ftlog as the log backend");
    assert_eq!(log::max_level(), LevelFilter::Info);
    let drain = || {
        log::logger().flush();
        sink.wait_for(NAME, peers::calls_made());
    };

    common::log_facade_groups(c, NAME, |body| body(), drain);

    drain();
    let calls = peers::calls_made();
    let written = sink.writes();
    eprintln!("{NAME}: {calls} timed calls, {written} lines written");
    if let Some(line) = sink.first() {
        eprintln!(
            "{NAME}: first line (the default format has no key-values): {}",
            line.trim_end()
        );
        assert!(
            line.contains(logiscout_bench::MESSAGE),
            "ftlog's line lacks the message: {line:?}"
        );
    }
    assert_eq!(
        written, calls,
        "every timed call must have written one line (ftlog discards when its channel is full)"
    );
}

logiscout_bench::peer_bench_main!(bench);
