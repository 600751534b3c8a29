//! `flush_async` on a current-thread runtime: the flush completes against a loopback endpoint, and the
//! runtime's one thread keeps running other tasks while it waits (a blocking flush would starve them, the
//! trap of flushes that need the caller's runtime).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logiscout_testkit::{IngestServer, Reply};

#[tokio::test(flavor = "current_thread")]
async fn flush_async_completes_and_other_tasks_run_meanwhile() {
    let server = IngestServer::start();
    // The endpoint takes its time: the flush has to wait, and the ticker must run during that wait.
    server.reply_next(Reply::ok().delay(Duration::from_millis(600)));
    let _guard = logiscout_core::init(
        logiscout_core::Config::new("flush-async-test")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_flush_async")
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
    // Let the ticker start.
    tokio::time::sleep(Duration::from_millis(30)).await;

    for n in 0..5 {
        log::info!(n = n; "before the flush");
    }
    let t = Instant::now();
    let before = ticks.load(Ordering::Relaxed);
    let report = logiscout_core::flush_async(Duration::from_secs(10)).await;
    let waited = t.elapsed();
    let during = ticks.load(Ordering::Relaxed) - before;

    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 5, "{report:?}");
    assert_eq!(report.undelivered(), 0);
    assert!(
        waited >= Duration::from_millis(500),
        "the flush waited for the slow answer: {waited:?}"
    );
    // ~60 ticks in 600 ms; a blocked runtime thread makes none.
    assert!(
        during >= 10,
        "only {during} ticks in {waited:?}: the runtime's thread was blocked"
    );
    assert_eq!(server.accepted_logs().len(), 5);
    ticker.abort();
}
