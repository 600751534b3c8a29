//! `flush_async` on a current-thread runtime: the flush completes against a loopback endpoint, and the
//! runtime's one thread keeps running other tasks while it waits (a blocking flush would starve them, the
//! trap of flushes that need the caller's runtime).

mod common;

use std::time::Duration;

use common::SlowWait;

#[tokio::test(flavor = "current_thread")]
async fn flush_async_completes_and_other_tasks_run_meanwhile() {
    // The endpoint takes its time: the flush has to wait, and the ticker must run during that wait.
    let (setup, _guard) =
        SlowWait::start("flush-async-test", "lgs_flush_async", 5, "before the flush").await;
    let report = setup
        .measure(logiscout_core::flush_async(Duration::from_secs(10)))
        .await;
    assert_eq!(report.undelivered(), 0);
}
