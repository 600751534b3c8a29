//! The three criterion groups every logger behind the `log` facade is measured in (see
//! `logiscout_bench::peers`), written once for `hot_logiscout`, `hot_env_logger`, `hot_opentelemetry`,
//! `hot_ftlog` and `hot_facade_floor`. (The tracing benches share `common/tracing_event.rs` instead, the
//! OpenTelemetry ones `common/otel.rs`; `hot_floor` has no logger at all, so it spells out its calls.)

use std::time::Duration;

use criterion::{Criterion, Throughput};
use logiscout_bench::peers;

/// Measures `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")` on one
/// thread and on two, and `log::debug!` of the same record under the `info` filter, as `name`.
///
/// `in_context` runs a thread's whole share inside the logger's context (logiscout's correlation scope;
/// loggers without one just call it); `drain` waits, untimed, until the logger has delivered every call
/// made so far.
pub(crate) fn log_facade_groups<C>(c: &mut Criterion, name: &str, in_context: C, drain: impl Fn())
where
    C: Fn(&mut dyn FnMut()) + Sync,
{
    let mut group = c.benchmark_group(peers::GROUP_1_THREAD);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            in_context(&mut || {
                timed = peers::one_thread(
                    iters,
                    |i| {
                        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")
                    },
                    &drain,
                )
            });
            timed
        })
    });
    group.finish();

    let mut group = c.benchmark_group(peers::GROUP_2_THREADS);
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            peers::two_threads(
                iters,
                &in_context,
                |i| log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!"),
                &drain,
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group(peers::GROUP_DISABLED);
    group.bench_function(name, |b| {
        b.iter(
            || log::debug!(user_id = 1, ratio = 0.25, region = "eu-west-1"; "Order created okay!!"),
        )
    });
    group.finish();
}
