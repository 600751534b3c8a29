//! `Env::Prod` end to end through the public API: `init`, the `log` macros, correlation scopes and request
//! events, a real ingest server on 127.0.0.1, and the guard's shutdown.

use std::time::Duration;

use logiscout::correlation::{self, Context, CorrelationId, RequestInfo};
use logiscout_testkit::IngestServer;

#[test]
fn records_reach_the_endpoint_except_send_false_and_our_own() {
    let server = IngestServer::start();
    let guard = logiscout::init(
        logiscout::Config::new("prod-test")
            .env(logiscout::Env::Prod)
            .api_token("lgs_prod_test_token")
            .endpoint(server.url())
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            // Everything, including reqwest's own records on the worker thread; but not mio's, which the
            // in-process test server's runtime emits for each connection it accepts (a real ingest
            // endpoint is another process).
            .filter("trace,mio=off")
            .max_batch_wait(Duration::from_millis(200)),
    )
    .unwrap();

    log::info!(user_id = 123; "User logged in");
    log::info!(send = false, token = "secret"; "Password reset token generated");
    logiscout::critical!(order_id = "abc"; "Payment system down");
    let user_log = logiscout::bind!(session_id = "s-1");
    log::debug!(logger: user_log, action = "click"; "User action");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = Context::new(CorrelationId::new("req-42"))
            .with_request(RequestInfo::new("GET", "/users/42?auth=x"));
        logiscout::middleware::request_started(&ctx);
        let status = correlation::scope(ctx.clone(), async {
            log::info!(user_id = 42; "Fetching user");
            tokio::task::yield_now().await;
            log::warn!("Slow query");
            200
        })
        .await;
        logiscout::middleware::request_finished(&ctx, Some(status));
    });

    let report = logiscout::flush(Duration::from_secs(5));
    assert!(report.complete, "{report:?}");
    // Let any feedback loop show itself: the worker's own records (reqwest, hyper) must not cause POSTs.
    std::thread::sleep(Duration::from_millis(600));
    let posts = server.received();
    assert_eq!(
        posts.len(),
        1,
        "one batch, no feedback loop: {}",
        posts.len()
    );
    for r in &posts {
        assert!(r.schema_error.is_none(), "{:?}", r.schema_error);
    }
    let logs = server.accepted_logs();
    let messages: Vec<&str> = logs
        .iter()
        .map(|(_, l)| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "User logged in",
            "Payment system down",
            "User action",
            "Fetching user",
            "Slow query"
        ]
        .iter()
        .filter(|m| messages.contains(m))
        .copied()
        .collect::<Vec<_>>()
    );
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert!(!messages.contains(&"Password reset token generated"));
    for (_, l) in &logs {
        let target = l["loggerName"].as_str().unwrap();
        assert!(
            !target.starts_with("reqwest") && !target.starts_with("hyper"),
            "{target}"
        );
    }
    let by_msg = |m: &str| {
        logs.iter()
            .find(|(_, l)| l["message"] == m)
            .unwrap()
            .clone()
    };
    assert_eq!(by_msg("Payment system down").1["level"], "critical");
    assert_eq!(by_msg("User action").1["metadata"]["session_id"], "s-1");
    assert_eq!(by_msg("User action").1["level"], "debug");
    assert_eq!(by_msg("Fetching user").0, "req-42");
    assert_eq!(by_msg("Slow query").0, "req-42");
    let body = &posts[0].body;
    let req = body["payloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["correlationId"] == "req-42")
        .unwrap();
    assert_eq!(req["request"]["path"], "/users/42");
    assert_eq!(req["request"]["statusCode"], 200);
    assert_eq!(body["batch_metadata"]["environment"], "production");
    assert_eq!(body["batch_metadata"]["sdk"], logiscout::SDK);

    let report = guard.shutdown(Duration::from_secs(2));
    assert!(report.complete);
    let stats = logiscout::stats();
    assert_eq!(stats.logs_enqueued, 5);
    assert_eq!(stats.logs_sent, 5);
    assert_eq!(stats.logs_dropped, 0);
    // After shutdown records still print but are counted as dropped.
    log::info!("late");
    let stats = logiscout::stats();
    assert_eq!((stats.logs_enqueued, stats.logs_dropped), (6, 1));
    assert_eq!(
        stats.logs_enqueued,
        stats.logs_sent + stats.logs_dropped + stats.logs_pending()
    );
}
