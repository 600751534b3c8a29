//! `logiscout::testing` (feature `testing`): tests assert on what they logged, and tests running in
//! parallel in one process each see only their own records.

use std::time::Duration;

use logiscout::correlation::{self, CorrelationId};
use logiscout::testing::capture;

/// Logs `n` records tagged `who`, slowly enough that two such tests overlap.
fn log_as(who: &str, n: usize) {
    for i in 0..n {
        log::info!(who = who, i = i; "record from {who}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_only_own(who: &str) {
    let logs = capture();
    log_as(who, 100);
    let records = logs.records();
    assert_eq!(records.len(), 100, "{who} saw {} records", records.len());
    assert!(
        records.iter().all(|r| r.fields["who"] == who),
        "{who} saw another test's records"
    );
    assert!(logs.contains(&format!("record from {who}")));
}

// The two run in parallel (the harness's default), each on its own thread.
#[test]
fn parallel_test_a_sees_only_its_own_records() {
    assert_only_own("a");
}

#[test]
fn parallel_test_b_sees_only_its_own_records() {
    assert_only_own("b");
}

#[test]
fn records_from_other_threads_are_captured_inside_the_scope_only() {
    correlation::sync_scope(CorrelationId::new("testing-scope-1"), || {
        let logs = capture();
        log::warn!(n = 3; "on this thread");
        std::thread::spawn(|| log::info!("another thread, no scope"))
            .join()
            .unwrap();
        let ctx = correlation::current_context().unwrap();
        std::thread::spawn(move || {
            correlation::sync_scope(ctx, || log::info!("another thread, in the scope"))
        })
        .join()
        .unwrap();
        let records = logs.records();
        let messages: Vec<_> = records.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["on this thread", "another thread, in the scope"]);
        assert_eq!(records[0].level, logiscout::WireLevel::Warning);
        assert_eq!(records[0].fields["n"], 3);
        assert_eq!(
            records[0].correlation_id.as_ref().map(|id| id.as_str()),
            Some("testing-scope-1")
        );
        logs.clear();
        assert!(logs.records().is_empty());
    });
}

#[test]
fn levels_critical_send_false_and_the_end_of_capturing() {
    let logs = capture();
    log::debug!("debug is captured too");
    logiscout::critical!(order_id = "abc"; "Payment system down");
    log::info!(send = false, token = "secret"; "kept local");
    let records = logs.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].level, logiscout::WireLevel::Debug);
    assert_eq!(records[1].level, logiscout::WireLevel::Critical);
    assert_eq!(records[1].fields["order_id"], "abc");
    assert!(!records[2].fields.contains_key("send"));
    assert_eq!(records[2].target, module_path!());
    drop(logs);
    log::info!("after the drop");
    assert!(!capture().contains("after the drop"));
}

#[tokio::test]
async fn an_async_test_on_a_current_thread_runtime_is_captured_whole() {
    let logs = capture();
    correlation::scope(CorrelationId::generate(), async {
        tokio::task::yield_now().await;
        log::info!("inside a request-like scope");
    })
    .await;
    assert!(logs.contains("inside a request-like scope"));
}
