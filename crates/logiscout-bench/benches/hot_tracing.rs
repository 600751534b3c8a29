//! Hot path of **tracing** (function `tracing_json_nonblocking`), for the comparison with logiscout:
//! `tracing::info!(user_id = i, ratio = 0.25, region = "eu-west-1", "Order created okay!!")` inside an entered
//! span `info_span!("request", correlation_id = "bench-request-0001")` (tracing's equivalent of logiscout's
//! correlation scope), formatted on the calling thread as one JSON line by tracing-subscriber's
//! `fmt().json()` with the current span (the span list is off: with one span it would repeat the same
//! fields), and handed to tracing-appender's `non_blocking` writer, whose own thread writes it to a sink.
//! Level filter `INFO`.
//!
//! `cargo bench -p logiscout-bench --bench hot_tracing`
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once, each in its own entered span; the figure is wall time per
//! call = 1 / aggregate throughput, each thread's own time per call is about twice it) and `disabled_level`
//! (`tracing::debug!` under the `INFO` filter). Criterion writes
//! `target/criterion/<group>/tracing_json_nonblocking/new/estimates.json`.
//!
//! The non-blocking writer is built with `lossy(false)`, so a full channel (128,000 lines by default) would
//! block the caller instead of dropping a line. It writes into `peers::CountingSink` (a sink that counts
//! writes, on the writer thread): every 10,000 calls the bench waits, untimed, until that many lines were
//! written, so the channel never fills; at the end it asserts that lines written = timed calls and prints
//! the first line. The `WorkerGuard` lives until the end of the run.

#[path = "common/tracing_event.rs"]
mod tracing_event;

use criterion::{Criterion, Throughput};
use logiscout_bench::peers;
use tracing_appender::non_blocking::NonBlockingBuilder;

const NAME: &str = "tracing_json_nonblocking";

fn bench(c: &mut Criterion) {
    let sink = peers::CountingSink::new();
    let (writer, _worker_guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(sink.clone());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("install the tracing subscriber as the global default");
    let drain = || sink.wait_for(NAME, peers::calls_made());

    tracing_event::one_thread_group(c, NAME, drain);

    let mut group = c.benchmark_group(peers::GROUP_2_THREADS);
    group.throughput(Throughput::Elements(1));
    group.bench_function(NAME, |b| {
        b.iter_custom(|iters| {
            peers::two_threads(
                iters,
                |body| {
                    let span =
                        tracing::info_span!("request", correlation_id = peers::CORRELATION_ID);
                    let _entered = span.enter();
                    body()
                },
                |i| {
                    tracing::info!(
                        user_id = i,
                        ratio = 0.25,
                        region = "eu-west-1",
                        "Order created okay!!"
                    )
                },
                drain,
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group(peers::GROUP_DISABLED);
    group.bench_function(NAME, |b| {
        b.iter(|| {
            tracing::debug!(
                user_id = 1,
                ratio = 0.25,
                region = "eu-west-1",
                "Order created okay!!"
            )
        })
    });
    group.finish();

    let calls = peers::calls_made();
    drain();
    let written = sink.writes();
    eprintln!("{NAME}: {calls} timed calls, {written} lines written");
    if let Some(line) = sink.first() {
        eprintln!("{NAME}: first line: {}", line.trim_end());
        for expected in [
            logiscout_bench::MESSAGE,
            "\"user_id\":",
            "\"ratio\":0.25",
            "\"region\":\"eu-west-1\"",
            "\"correlation_id\":\"bench-request-0001\"",
        ] {
            assert!(
                line.contains(expected),
                "tracing's line lacks {expected:?}: {line:?}"
            );
        }
    }
    assert_eq!(
        written, calls,
        "every timed call must have written one line"
    );
}

logiscout_bench::peer_bench_main!(bench);
