//! Hot path of **env_logger** (function `env_logger`), for the comparison with logiscout: one
//! `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` formatted with
//! env_logger's default format (timestamp, level, target, message, then the key-values, thanks to its `kv`
//! feature) and written synchronously, on the calling thread, to `std::io::sink()` (`Target::Pipe`).
//! Filter `info`, set in code (`RUST_LOG` is not read). There is no correlation scope: env_logger has none.
//!
//! `cargo bench -p logiscout-bench --bench hot_env_logger`
//!
//! Groups (see `logiscout_bench::peers`): `hot_path_1_thread` (ns per call, one thread),
//! `hot_path_2_threads` (two threads at once; the figure is wall time per call = 1 / aggregate throughput,
//! each thread's own time per call is about twice it) and `disabled_level` (`debug!` under the `info`
//! filter). Criterion writes `target/criterion/<group>/env_logger/new/estimates.json`.
//!
//! env_logger has no queue, so nothing can be dropped and there is nothing to drain. Before measuring, a
//! second env_logger `Logger` built the same way but writing to a capturing sink formats one record, and
//! the bench checks (and prints) that the key-values are in the line.

mod common;

use criterion::Criterion;
use env_logger::{Builder, Target};
use log::kv::Value;
use log::{Level, LevelFilter, Log};
use logiscout_bench::peers;

const NAME: &str = "env_logger";

/// The configuration under test, writing to `target`.
fn builder(target: Target) -> Builder {
    let mut builder = Builder::new();
    builder.filter_level(LevelFilter::Info).target(target);
    builder
}

/// Formats one benchmark record with a logger configured like the measured one and checks the output.
fn check_format() {
    let sink = peers::CountingSink::new();
    let logger = builder(Target::Pipe(Box::new(sink.clone()))).build();
    let kvs = [
        ("user_id", Value::from(7u64)),
        ("ratio", Value::from(0.25f64)),
        ("region", Value::from("eu-west-1")),
    ];
    logger.log(
        &log::Record::builder()
            .args(format_args!("Order created okay!!"))
            .level(Level::Info)
            .target("hot_env_logger")
            .key_values(&kvs)
            .build(),
    );
    let line = sink
        .first()
        .expect("env_logger wrote nothing for an info record");
    eprintln!("{NAME}: one record as formatted: {}", line.trim_end());
    for expected in [
        logiscout_bench::MESSAGE,
        "user_id=7",
        "ratio=0.25",
        "region=eu-west-1",
    ] {
        assert!(
            line.contains(expected),
            "env_logger's line lacks {expected:?}: {line:?}"
        );
    }
}

fn bench(c: &mut Criterion) {
    check_format();
    builder(Target::Pipe(Box::new(std::io::sink())))
        .try_init()
        .expect("install env_logger as the log backend");
    assert_eq!(log::max_level(), LevelFilter::Info);

    common::log_facade_groups(c, NAME, |body| body(), || {});

    eprintln!(
        "{NAME}: {} timed calls, each written synchronously to the sink (no queue, nothing to drop)",
        peers::calls_made()
    );
}

logiscout_bench::peer_bench_main!(bench);
