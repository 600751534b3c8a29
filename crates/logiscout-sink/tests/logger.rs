//! The real logiscout logger (Env::Prod, gzip on) shipping to the sink, with a third of the requests
//! failing with 503: everything arrives once, valid, under the right correlation IDs.
//!
//! In a file of its own: `logiscout_core::init` works once per process.

use std::time::Duration;

use logiscout_core::correlation::{self, CorrelationId};
use logiscout_core::{Config, Console, Env};
use logiscout_sink::{Faults, Sink, SinkConfig};

#[test]
fn the_real_logger_ships_to_the_sink_through_faults() {
    let sink = Sink::start(SinkConfig {
        token: Some("lgs_sink_tests".to_owned()),
        quiet: true,
        faults: Faults {
            statuses: vec![503],
            rate: Some(0.3),
            seed: Some(42),
            ..Faults::default()
        },
        ..SinkConfig::default()
    })
    .expect("sink starts");
    let guard = logiscout_core::init(
        Config::new("sink-tests")
            .env(Env::Prod)
            .api_token("lgs_sink_tests")
            .endpoint(sink.url())
            .console(Console::Off)
            .read_rust_log(false)
            .gzip(true)
            .max_batch_logs(10)
            .retry(
                Duration::from_millis(5),
                Duration::from_millis(50),
                Duration::from_secs(20),
            ),
    )
    .expect("init");

    for i in 0..25 {
        log::info!(target: "api", i = i, ok = true; "outside any scope");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(correlation::scope(CorrelationId::new("job-7"), async {
        for i in 0..25 {
            log::warn!(target: "job", i = i; "inside job-7");
        }
    }));

    let report = logiscout_core::flush(Duration::from_secs(20));
    assert!(report.complete, "{report:?}");
    assert_eq!(report.stats.logs_sent, 50, "{report:?}");
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");

    let stats = sink.stats();
    assert_eq!(stats.logs, 50, "{stats:?}");
    assert_eq!(stats.rejected + stats.unauthorized, 0, "{stats:?}");
    assert!(stats.faults > 0, "the faults fired: {stats:?}");
    // Every 503 was retried, and nothing else was.
    assert_eq!(
        report.stats.batches_retried, stats.faults,
        "{report:?} {stats:?}"
    );
    assert_eq!(report.stats.batches_sent, stats.batches + stats.duplicates);

    let logs = sink.logs();
    let job: Vec<_> = logs.iter().filter(|(id, _)| id == "job-7").collect();
    assert_eq!(job.len(), 25);
    assert!(job
        .iter()
        .all(|(_, l)| l["level"] == "warning" && l["loggerName"] == "job"));
    let mut is: Vec<i64> = job
        .iter()
        .map(|(_, l)| l["metadata"]["i"].as_i64().unwrap())
        .collect();
    is.sort_unstable();
    assert_eq!(is, (0..25).collect::<Vec<_>>());
    let outside: Vec<_> = logs
        .iter()
        .filter(|(_, l)| l["message"] == "outside any scope")
        .collect();
    assert_eq!(outside.len(), 25);
    assert!(outside
        .iter()
        .all(|(id, l)| id != "job-7" && l["metadata"]["ok"] == true));
    for batch in sink.batches() {
        assert_eq!(batch["batch_metadata"]["service_name"], "sink-tests");
        assert_eq!(batch["batch_metadata"]["environment"], "production");
    }

    let report = guard.shutdown(Duration::from_secs(5));
    assert!(report.complete);
    sink.shutdown();
}
