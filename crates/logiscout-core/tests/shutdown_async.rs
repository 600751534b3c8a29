//! `Guard::shutdown_async` on a current-thread runtime: what is waiting is delivered to a loopback
//! endpoint, the worker stops, and the runtime's one thread keeps running other tasks during the wait.

mod common;

use std::time::Duration;

use common::SlowWait;

#[tokio::test(flavor = "current_thread")]
async fn shutdown_async_delivers_and_other_tasks_run_meanwhile() {
    let (setup, guard) = SlowWait::start(
        "shutdown-async-test",
        "lgs_shutdown_async",
        7,
        "before shutdown",
    )
    .await;
    setup
        .measure(guard.shutdown_async(Duration::from_secs(10)))
        .await;
    // Shipping is over: a later record is counted as dropped, and a flush returns at once.
    log::info!("after shutdown");
    let after = logiscout_core::flush_async(Duration::from_secs(1)).await;
    assert_eq!(after.stats.logs_dropped, 1, "{after:?}");
}
