//! Re-entrancy through the global default subscriber: a field whose `Debug` emits a tracing event and a
//! `log` record while its event is being recorded, a value recorded into a span whose `Debug` emits an
//! event in that very span, and a console writer that emits a tracing event while it prints one. Each is
//! shipped, nothing panics, nothing deadlocks.
//!
//! tracing dispatches an event emitted inside a subscriber's callback only while no thread has a scoped
//! dispatcher (`with_default`, `set_default`): the testkit's server sets one on its threads, so this test
//! ships to a bare HTTP server of its own and reads what was shipped from `stats()` and the console.
//!
//! In a file of its own: the global default subscriber is the process's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logiscout_core::correlation::{self, CorrelationId};
use tracing_subscriber::prelude::*;

/// A value whose `Debug` logs, through `tracing` and through `log`.
struct Noisy;

impl std::fmt::Debug for Noisy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::info!(inner = 1, "from Debug");
        log::info!("log from Debug");
        f.write_str("noisy")
    }
}

/// A console writer that emits a tracing event on each write.
struct LoggingWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LoggingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        tracing::warn!(bytes = bytes.len(), "console write");
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An HTTP/1.1 endpoint on 127.0.0.1 that answers every request 200 (std only: no tracing dispatcher
/// of its own). Returns its URL.
fn ok_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/ingest", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut stream = stream;
                loop {
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn events_emitted_while_an_event_is_recorded_or_printed_ship_once_each() {
    let printed = Arc::new(Mutex::new(Vec::new()));
    let guard = logiscout_core::init(
        logiscout_core::Config::new("tracing-reentrant")
            .env(logiscout_core::Env::Prod)
            .api_token("lgs_test")
            .endpoint(ok_endpoint())
            .console(logiscout_core::Console::Json)
            .console_writer(LoggingWriter(printed.clone()))
            .read_rust_log(false)
            .filter("info"),
    )
    .expect("init");
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(logiscout_tracing::layer().with_console(true)),
    )
    .expect("global subscriber");
    correlation::sync_scope(CorrelationId::new("t-reentrant"), || {
        let span = tracing::info_span!("outer", a = 1, late = tracing::field::Empty);
        let _entered = span.enter();
        // Recorded into this very span, which the event its `Debug` emits reads.
        span.record("late", tracing::field::debug(Noisy));
        tracing::info!(v = ?Noisy, "outer event");
    });
    assert!(logiscout_core::flush(Duration::from_secs(10)).complete);
    let printed = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = printed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let count = |msg: &str| lines.iter().filter(|l| l["message"] == msg).count();
    // Each `Debug` ran once, and the events it emitted were printed (so shipped) like any other.
    assert_eq!(count("outer event"), 1, "{printed}");
    assert_eq!(count("from Debug"), 2, "{printed}");
    assert_eq!(count("log from Debug"), 2, "{printed}");
    let outer = lines
        .iter()
        .find(|l| l["message"] == "outer event")
        .unwrap();
    let m = &outer["metadata"];
    assert_eq!(m["v"], "noisy");
    assert_eq!(m["late"], "noisy");
    assert_eq!(m["a"], 1);
    for nested in lines.iter().filter(|l| l["message"] == "from Debug") {
        assert_eq!(nested["metadata"]["inner"], 1);
        assert_eq!(nested["metadata"]["a"], 1, "the nested event has its span");
        assert!(nested["metadata"].get("v").is_none());
    }
    // Shipped: the 5 records above, the writer's event for each of their lines (printed), and the
    // writer's event for each of those lines (shipped, not printed: the console prints only one level
    // deep, so a writer that logs on every write cannot loop).
    assert_eq!(lines.len(), 10, "{printed}");
    let stats = logiscout_core::stats();
    assert_eq!(stats.logs_dropped, 0, "{stats:?}");
    assert_eq!(stats.logs_sent, 15, "{stats:?}");
    drop(guard);
}
