//! The one-thread group of the tracing benches (`hot_tracing`, `hot_tracing_logiscout`,
//! `hot_tracing_opentelemetry`): the same event in the same entered span, written once.

use criterion::Criterion;
use logiscout_bench::peers;

/// Measures `tracing::info!(user_id = i, ratio = 0.25, region = "eu-west-1", "Order created okay!!")`
/// inside an entered `info_span!("request", correlation_id = ..)` on one thread, as `name`; `drain` waits,
/// untimed, until the subscriber has delivered every call made so far.
pub(crate) fn one_thread_group(c: &mut Criterion, name: &str, drain: impl Fn()) {
    let mut group = c.benchmark_group(peers::GROUP_1_THREAD);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let span = tracing::info_span!("request", correlation_id = peers::CORRELATION_ID);
            let _entered = span.enter();
            peers::one_thread(
                iters,
                |i| {
                    tracing::info!(
                        user_id = i,
                        ratio = 0.25,
                        region = "eu-west-1",
                        "Order created okay!!"
                    )
                },
                &drain,
            )
        })
    });
    group.finish();
}
