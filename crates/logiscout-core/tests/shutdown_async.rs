//! `Guard::shutdown_async` on a current-thread runtime: what is waiting is delivered to a loopback
//! endpoint, the worker stops, and the runtime's one thread keeps running other tasks during the wait.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logiscout_testkit::{IngestServer, Reply};

#[tokio::test(flavor = "current_thread")]
async fn shutdown_async_delivers_and_other_tasks_run_meanwhile() {
    let server = IngestServer::start();
    server.reply_next(Reply::ok().delay(Duration::from_millis(600)));
    let guard = logiscout_core::init(
        logiscout_core::Config::new("shutdown-async-test")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_shutdown_async")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("info"),
    )
    .unwrap();

    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;

    for n in 0..7 {
        log::info!(n = n; "before shutdown");
    }
    let t = Instant::now();
    let before = ticks.load(Ordering::Relaxed);
    let report = guard.shutdown_async(Duration::from_secs(10)).await;
    let waited = t.elapsed();
    let during = ticks.load(Ordering::Relaxed) - before;

    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 7, "{report:?}");
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(
        during >= 10,
        "only {during} ticks in {waited:?}: the runtime's thread was blocked"
    );
    assert_eq!(server.accepted_logs().len(), 7);
    // Shipping is over: a later record is counted as dropped, and a flush returns at once.
    log::info!("after shutdown");
    let after = logiscout_core::flush_async(Duration::from_secs(1)).await;
    assert_eq!(after.stats.logs_dropped, 1, "{after:?}");
    ticker.abort();
}
