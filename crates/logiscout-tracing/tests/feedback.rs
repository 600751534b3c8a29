//! The layer as the global default subscriber with every target enabled at TRACE: whatever the worker's
//! own HTTP stack (reqwest, hyper, rustls, tokio) emits is never shipped, so shipping cannot feed itself.
//! Also the recipe for an app that uses both `log` and `tracing`: logiscout owns the `log` slot, the
//! subscriber is installed with `set_global_default`, and each record ships exactly once.

use std::time::Duration;

use logiscout_testkit::IngestServer;
use tracing_subscriber::prelude::*;

#[test]
fn the_workers_own_events_are_never_shipped_and_log_and_tracing_ship_once_each() {
    let server = IngestServer::start();
    let guard = logiscout_core::init(
        logiscout_core::Config::new("tracing-feedback")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_test")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false)
            .filter("trace")
            .max_batch_logs(5),
    )
    .expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout_tracing::layer()),
    )
    .expect("global subscriber");
    for n in 0..20u64 {
        tracing::info!(n, "from tracing");
        log::info!(n = n; "from log");
    }
    assert!(logiscout_core::flush(Duration::from_secs(10)).complete);
    std::thread::sleep(Duration::from_millis(300));
    // The in-process test server's own `log` records (mio registering its sockets, when the workspace
    // builds mio with its `log` feature) are not the worker's; anything from the worker's HTTP client
    // would come under hyper, hyper_util, reqwest, h2 or rustls.
    let logs: Vec<_> = server
        .accepted_logs()
        .into_iter()
        .filter(|(_, l)| {
            !l["loggerName"]
                .as_str()
                .unwrap_or_default()
                .starts_with("mio")
        })
        .collect();
    for (_, l) in &logs {
        let target = l["loggerName"].as_str().unwrap_or_default();
        assert!(
            !["hyper", "reqwest", "h2", "rustls", "tokio"]
                .iter()
                .any(|t| target.starts_with(t)),
            "the worker's own record was shipped: {l}"
        );
    }
    let ours = |msg: &str| logs.iter().filter(|(_, l)| l["message"] == msg).count();
    assert_eq!(ours("from tracing"), 20, "each tracing event once");
    assert_eq!(ours("from log"), 20, "each log record once");
    assert_eq!(logs.len(), 40, "nothing else: {logs:#?}");
    let from_log = logs
        .iter()
        .find(|(_, l)| l["message"] == "from log")
        .unwrap();
    assert!(
        from_log.1["metadata"]["n"].is_u64(),
        "log's key-values kept"
    );
    // A feedback loop would keep posting after the last record: the count of POSTs must stand still.
    let posts = server.received().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        server.received().len(),
        posts,
        "POSTs went on by themselves"
    );
    // (The test server's own records, logged while it shuts down, may be dropped: not ours.)
    let report = guard.shutdown(Duration::from_secs(5));
    assert!(report.stats.logs_sent >= 40, "{report:?}");
}
