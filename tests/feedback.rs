//! No feedback loop: with an endpoint that always fails and every level enabled, the worker's own
//! records (reqwest, hyper, rustls on the worker thread) never become new batches, so POSTs stay bounded
//! by batches × attempts, and nothing deadlocks. Logging from a `Drop` during thread exit and from a
//! panic hook works.

use std::time::{Duration, Instant};

use logiscout_testkit::{IngestServer, Reply};

struct LogsOnDrop;

impl Drop for LogsOnDrop {
    fn drop(&mut self) {
        log::info!(source = "drop"; "thread-local dropped at thread exit");
    }
}

thread_local! {
    static ON_EXIT: LogsOnDrop = const { LogsOnDrop };
}

#[test]
fn a_failing_endpoint_at_trace_level_causes_no_feedback_loop() {
    let server = IngestServer::start();
    server.reply_always(Reply::status(500));
    let guard = logiscout::init(
        logiscout::Config::new("feedback-test")
            .env(logiscout::Env::Prod)
            .api_token("lgs_feedback")
            .endpoint(server.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            // mio is the in-process test server's runtime, not ours.
            .filter("trace,mio=off")
            .max_batch_logs(10)
            .retry(
                Duration::from_millis(20),
                Duration::from_millis(100),
                Duration::from_millis(1500),
            ),
    )
    .unwrap();

    for n in 0..30 {
        log::info!(n = n; "record");
    }
    // A record from a Drop during thread exit, and one from a panic hook.
    std::thread::spawn(|| ON_EXIT.with(|_| ())).join().unwrap();
    std::panic::set_hook(Box::new(
        |info| log::error!(source = "hook"; "panic: {info}"),
    ));
    let _ = std::panic::catch_unwind(|| panic!("on purpose"));
    let _ = std::panic::take_hook();

    let t = Instant::now();
    let report = logiscout::flush(Duration::from_secs(10));
    assert!(report.complete, "{report:?}");
    assert!(t.elapsed() < Duration::from_secs(10));
    let stats = report.stats;
    // Exactly the application's 32 records entered the pipeline: none of the worker's own.
    assert_eq!(stats.logs_enqueued, 32, "{stats:?}");
    assert_eq!(stats.logs_dropped, 32);
    let batches = stats.batches_failed;
    assert_eq!(batches, 4, "{stats:?}");
    let posts = server.received();
    assert_eq!(posts.len() as u64, batches + stats.batches_retried);
    let mut ids: Vec<_> = posts
        .iter()
        .map(|p| p.header("x-logiscout-batch-id").unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, batches, "retries reuse their batch id");
    let messages: Vec<String> = posts
        .iter()
        .flat_map(|p| p.logs())
        .map(|(_, l)| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert!(messages
        .iter()
        .any(|m| m == "thread-local dropped at thread exit"));
    assert!(messages
        .iter()
        .any(|m| m.starts_with("panic: ") && m.contains("on purpose")));
    // Quiet afterwards: no new POSTs without new records.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.received().len(), posts.len());
    let t = Instant::now();
    guard.shutdown(Duration::from_secs(2));
    assert!(t.elapsed() < Duration::from_secs(3));
}
