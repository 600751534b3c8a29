//! `logiscout::init` first (it owns the `log` slot), then tracing-subscriber's `.try_init()`: it reports
//! that `LogTracer` could not take the `log` slot, but installs the subscriber; `tracing` events ship
//! through the layer and `log` records through logiscout, each once, with their key-values.

use std::time::Duration;

use logiscout_testkit::IngestServer;
use tracing_subscriber::prelude::*;
use tracing_subscriber::util::SubscriberInitExt;

#[test]
fn logiscout_first_then_try_init_ships_each_record_once() {
    let server = IngestServer::start();
    let guard = logiscout_core::init(
        logiscout_core::Config::new("order")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_test")
            .endpoint(server.url())
            .console(logiscout_core::Console::Off)
            .read_rust_log(false),
    )
    .expect("init");
    let tried = tracing_subscriber::registry()
        .with(logiscout_tracing::layer())
        .try_init();
    assert!(
        tried.is_err(),
        "LogTracer cannot take the log slot logiscout holds"
    );
    tracing::info!(kind = "tracing", "one");
    log::info!(kind = "log"; "two");
    assert!(logiscout_core::flush(Duration::from_secs(10)).complete);
    let logs = server.accepted_logs();
    let kinds: Vec<&str> = logs
        .iter()
        .map(|(_, l)| l["metadata"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tracing", "log"], "{logs:#?}");
    drop(guard);
}
