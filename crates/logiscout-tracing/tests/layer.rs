//! The layer in a real `tracing_subscriber::registry()`, shipping through the real logiscout pipeline to
//! a loopback ingest server. One process, one logger: each test logs under its own correlation ID and
//! reads back only its own records.

use std::sync::OnceLock;
use std::time::Duration;

use logiscout_core::correlation::{self, CorrelationId};
use logiscout_testkit::IngestServer;
use serde_json::Value;
use tracing_subscriber::prelude::*;

struct Shared {
    server: IngestServer,
    _guard: logiscout_core::Guard,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let server = IngestServer::start();
        let guard = logiscout_core::init(
            logiscout_core::Config::new("tracing-tests")
                .env(logiscout_core::Env::Prod)
                .api_token("lgs_test")
                .endpoint(server.url())
                .console(logiscout_core::Console::Off)
                .read_rust_log(false)
                .filter("trace"),
        )
        .expect("init");
        Shared {
            server,
            _guard: guard,
        }
    })
}

/// Runs `f` with a registry + logiscout layer as this thread's subscriber, inside correlation scope
/// `id`, then returns the logs shipped under `id`.
fn shipped(id: &str, f: impl FnOnce()) -> Vec<Value> {
    let shared = shared();
    let subscriber = tracing_subscriber::registry().with(logiscout_tracing::layer());
    tracing::subscriber::with_default(subscriber, || {
        correlation::sync_scope(CorrelationId::new(id), f);
    });
    assert!(logiscout_core::flush(Duration::from_secs(10)).complete);
    shared
        .server
        .accepted_logs()
        .into_iter()
        .filter(|(cid, _)| cid == id)
        .map(|(_, log)| log)
        .collect()
}

#[test]
fn an_event_becomes_the_wire_entry_a_log_record_does() {
    let logs = shipped("t-typed", || {
        tracing::info!(
            target: "app::orders",
            u = 7u64,
            i = -3i64,
            f = 0.5,
            b = true,
            s = "text",
            d = ?vec![1, 2],
            shown = %"displayed",
            "Order {} created",
            42
        );
        tracing::trace!("fine detail");
        tracing::debug!("detail");
        tracing::warn!("careful");
        tracing::error!(critical = true, "Payment system down");
        tracing::error!("plain error");
    });
    assert_eq!(logs.len(), 6, "{logs:#?}");
    let first = &logs[0];
    assert_eq!(first["message"], "Order 42 created");
    assert_eq!(first["loggerName"], "app::orders");
    assert_eq!(first["level"], "info");
    let m = &first["metadata"];
    assert_eq!(m["u"], 7);
    assert_eq!(m["i"], -3);
    assert_eq!(m["f"], 0.5);
    assert_eq!(m["b"], true);
    assert_eq!(m["s"], "text");
    assert_eq!(m["d"], "[1, 2]");
    assert_eq!(m["shown"], "displayed");
    assert!(m.get("message").is_none());
    let levels: Vec<&str> = logs.iter().map(|l| l["level"].as_str().unwrap()).collect();
    assert_eq!(
        levels,
        ["info", "debug", "debug", "warning", "critical", "error"]
    );
    assert!(logs[4]["metadata"].get("critical").is_none());
    assert_eq!(logs[1]["loggerName"], "layer");
}

#[tracing::instrument(fields(stage = "checkout"))]
fn place_order(order_id: u64, customer: &str) {
    tracing::info!(items = 3, "Placing order");
}

#[test]
fn span_fields_go_into_metadata_root_to_leaf_inner_winning_event_last() {
    let logs = shipped("t-spans", || {
        let outer = tracing::info_span!(
            "request",
            a = 1,
            shared = "outer",
            late = tracing::field::Empty
        );
        let _o = outer.enter();
        let inner = tracing::info_span!("step", b = 2, shared = "inner");
        let _i = inner.enter();
        outer.record("late", "recorded later");
        tracing::info!(b = 3, "inside");
        drop(_i);
        place_order(77, "ada");
    });
    assert_eq!(logs.len(), 2, "{logs:#?}");
    let m = &logs[0]["metadata"];
    assert_eq!(m["a"], 1);
    assert_eq!(m["b"], 3, "the event's own field wins");
    assert_eq!(m["shared"], "inner", "the inner span wins");
    assert_eq!(m["late"], "recorded later", "Span::record");
    let m = &logs[1]["metadata"];
    assert_eq!(m["order_id"], 77, "#[instrument] arguments");
    assert_eq!(m["customer"], "ada");
    assert_eq!(m["stage"], "checkout");
    assert_eq!(m["items"], 3);
    assert_eq!(m["a"], 1, "still inside the outer span");
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment failed")
    }
}
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Inner {}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_error_value_becomes_the_traceback_with_its_source_chain() {
    let logs = shipped("t-error", || {
        let err = Outer(Inner);
        tracing::error!(
            error = &err as &(dyn std::error::Error + 'static),
            "Charge failed"
        );
    });
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["metadata"]["error"], "payment failed");
    assert_eq!(
        logs[0]["exception"]["traceback"],
        "payment failed\ncaused by: connection reset"
    );
}

#[test]
fn send_false_keeps_an_event_on_the_host() {
    let logs = shipped("t-send", || {
        tracing::info!(
            send = false,
            token = "secret",
            "Password reset token generated"
        );
        tracing::info!("shipped");
    });
    assert_eq!(logs.len(), 1, "{logs:#?}");
    assert_eq!(logs[0]["message"], "shipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_concurrent_scopes_keep_their_own_correlation_ids() {
    let shared = shared();
    let subscriber = tracing_subscriber::registry().with(logiscout_tracing::layer());
    let _default = tracing::subscriber::set_default(subscriber);
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let mut tasks = Vec::new();
    for n in 0..400 {
        let dispatch = dispatch.clone();
        let id = CorrelationId::new(format!("t-conc-{n}"));
        tasks.push(tokio::spawn(correlation::scope(id, async move {
            let _d = tracing::dispatcher::set_default(&dispatch);
            tracing::info!(n = n, "first");
            tokio::task::yield_now().await;
            let _d = tracing::dispatcher::set_default(&dispatch);
            tracing::info!(n = n, "second");
        })));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        tokio::task::spawn_blocking(|| logiscout_core::flush(Duration::from_secs(10)))
            .await
            .unwrap()
            .complete
    );
    let logs = shared.server.accepted_logs();
    let mut seen = 0;
    for (cid, log) in logs.iter().filter(|(cid, _)| cid.starts_with("t-conc-")) {
        assert_eq!(
            cid,
            &format!("t-conc-{}", log["metadata"]["n"]),
            "no mix-up"
        );
        seen += 1;
    }
    assert_eq!(seen, 800);
}
