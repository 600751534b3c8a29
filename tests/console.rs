//! The `log` backend in `Env::Dev`, through the public API only: key-values and their JSON types,
//! `send = false`, `bind!`, `critical!`, filter directives, correlation across `.await`, spawned tasks,
//! blocking tasks and threads, and the older kv-log-macro syntax. Console output is captured as JSON lines.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use logiscout::correlation::{self, CorrelationId, FutureExt};
use serde_json::{json, Value};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<(Capture, logiscout::Guard)> = OnceLock::new();
    &CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let guard = logiscout::init(
                logiscout::Config::new("console-tests")
                    .console(logiscout::Console::Json)
                    .console_writer(capture.clone())
                    .read_rust_log(false)
                    .filter("debug,noisy=warn"),
            )
            .expect("init");
            (capture, guard)
        })
        .0
}

/// Every captured line whose message contains `marker`.
fn lines(marker: &str) -> Vec<Value> {
    let bytes = capture().0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains(marker)))
        .collect()
}

fn one(marker: &str) -> Value {
    let found = lines(marker);
    assert_eq!(found.len(), 1, "{marker}: {found:?}");
    found.into_iter().next().unwrap()
}

#[derive(serde::Serialize)]
struct Order {
    id: u32,
    tags: Vec<&'static str>,
}

#[derive(Debug)]
struct Timeout;
impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("upstream timed out")
    }
}
impl std::error::Error for Timeout {}

#[test]
fn key_values_keep_their_types_and_strings_are_escaped() {
    capture();
    let order = Order {
        id: 9,
        tags: vec!["new"],
    };
    let err = Timeout;
    let nasty = "quote\" back\\ nl\n tab\t ctl\u{1} é 漢 🎉";
    log::info!(
        i = 42, neg = -7, f = 0.25, b = false, s = nasty, nan = f64::NAN, inf = f64::INFINITY,
        point:? = (1, 2), shown:% = "disp", order:serde = order, cause:err = err;
        "kv-types {}", nasty
    );
    let line = one("kv-types");
    let m = &line["metadata"];
    let want = [
        ("i", json!(42)),
        ("neg", json!(-7)),
        ("f", json!(0.25)),
        ("b", json!(false)),
        ("s", json!(nasty)),
        ("nan", json!("NaN")),
        ("inf", json!("inf")),
        ("point", json!("(1, 2)")),
        ("shown", json!("disp")),
        ("order", json!({"id": 9, "tags": ["new"]})),
        ("cause", json!("upstream timed out")),
    ];
    for (k, v) in want {
        assert_eq!(m[k], v, "{k}");
    }
    assert_eq!(line["message"], format!("kv-types {nasty}"));
    assert_eq!(line["exception"]["traceback"], "upstream timed out");
    assert_eq!(line["level"], "info");
    assert_eq!(line["loggerName"], "console");
    assert_eq!(line["service"], "console-tests");
    let ts = line["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 27, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.');
}

#[test]
fn send_false_still_prints_but_never_shows_the_flag() {
    capture();
    log::info!(send = false, token = "secret"; "send-false token generated");
    let line = one("send-false");
    assert_eq!(line["metadata"], json!({"token": "secret"}));
}

#[test]
fn bound_fields_join_every_record_and_the_records_own_keys_win() {
    capture();
    let user_log = logiscout::bind!(user_id = 123, session_id = "abc", action = "bound");
    log::info!(logger: user_log, action = "click"; "bind-user action");
    let line = one("bind-user");
    assert_eq!(
        line["metadata"],
        json!({"action": "click", "user_id": 123, "session_id": "abc"})
    );
    let admin = user_log.bind("role", "admin");
    log::warn!(logger: admin, "bind-admin");
    assert_eq!(one("bind-admin")["metadata"]["role"], "admin");
    assert_eq!(one("bind-admin")["level"], "warning");
}

#[test]
fn critical_is_its_own_level_and_does_not_stick() {
    capture();
    logiscout::critical!(order_id = "abc"; "crit-payment down");
    log::error!("crit-after plain error");
    assert_eq!(one("crit-payment")["level"], "critical");
    assert_eq!(one("crit-payment")["metadata"]["order_id"], "abc");
    assert_eq!(one("crit-after")["level"], "error");
}

#[test]
fn filter_directives_apply_per_target() {
    capture();
    log::trace!("filter-trace hidden");
    log::debug!("filter-debug shown");
    log::info!(target: "noisy", "filter-noisy-info hidden");
    log::warn!(target: "noisy", "filter-noisy-warn shown");
    assert!(lines("filter-trace").is_empty());
    assert_eq!(one("filter-debug")["level"], "debug");
    assert!(lines("filter-noisy-info").is_empty());
    assert_eq!(one("filter-noisy-warn")["loggerName"], "noisy");
}

#[test]
fn correlation_follows_awaits_spawns_blocking_tasks_and_threads() {
    capture();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        correlation::scope(CorrelationId::new("corr-async"), async {
            log::info!("ctx-before-await");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            log::info!("ctx-after-await");
            tokio::spawn(async { log::info!("ctx-spawned") }.in_current_scope())
                .await
                .unwrap();
            tokio::spawn(async { log::info!("ctx-spawned-bare") })
                .await
                .unwrap();
            let ctx = correlation::current_context().unwrap();
            tokio::task::spawn_blocking(move || {
                correlation::sync_scope(ctx, || log::info!("ctx-blocking"))
            })
            .await
            .unwrap();
        })
        .await;
    });
    for m in [
        "ctx-before-await",
        "ctx-after-await",
        "ctx-spawned",
        "ctx-blocking",
    ] {
        assert_eq!(lines(m)[0]["correlationId"], "corr-async", "{m}");
    }
    assert!(one("ctx-spawned-bare").get("correlationId").is_none());
    let id = CorrelationId::new("corr-thread");
    std::thread::spawn(move || correlation::sync_scope(id, || log::info!("ctx-thread")))
        .join()
        .unwrap();
    assert_eq!(one("ctx-thread")["correlationId"], "corr-thread");
    log::info!("ctx-none");
    assert!(one("ctx-none").get("correlationId").is_none());
}

#[test]
fn the_kv_log_macro_syntax_reaches_the_backend_with_its_key_values() {
    capture();
    kv_log_macro::info!("kvm-order created", { order_id: 77, currency: "USD" });
    let line = one("kvm-order");
    assert_eq!(line["metadata"]["order_id"], 77);
    assert_eq!(line["metadata"]["currency"], "USD");
}

#[test]
fn many_threads_log_whole_lines() {
    capture();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..200 {
                    log::info!(t = t, i = i; "threads-line {}", "x".repeat(100));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Every line parsed as JSON in `lines`, so none were interleaved.
    assert_eq!(lines("threads-line").len(), 1600);
}
