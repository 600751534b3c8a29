//! A custom console writer is user code that runs under our lock: one that logs (a writer reporting its
//! own trouble through `log`) must not deadlock, and one that panics must not end console output.
//!
//! Each case runs in a child process (this same test binary, run again with `--ignored --exact <child>`),
//! so each has a logger of its own, a hang is caught by a deadline instead of hanging the suite, and the
//! child's standard error (where a panic of the writer is reported, once) can be read.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logiscout_testkit::IngestServer;

const CHILD_ENV: &str = "LOGISCOUT_CONSOLE_WRITER_CHILD";

/// Runs the ignored test `child` in a new process; fails if it does not end within 30 s (a deadlock) or
/// fails. Returns its standard error.
fn run_child(child: &str) -> String {
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            child,
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = process.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = process.kill();
            let _ = process.wait();
            panic!(
                "{child} did not end within 30 s (deadlocked?); its stderr: {}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    assert!(status.success(), "{child} failed: {status:?}\n{stderr}");
    stderr
}

fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The console lines captured so far, as JSON.
fn json_lines(bytes: &Mutex<Vec<u8>>) -> Vec<serde_json::Value> {
    let bytes = bytes.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

fn messages(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_console_writer_that_logs_never_deadlocks_and_its_records_still_ship() {
    run_child("child_writer_that_logs");
}

/// Logs (through `log`) whenever it writes a line that mentions "reenter", as a writer reporting its
/// own trouble would.
struct LogsWhileWriting(Arc<Mutex<Vec<u8>>>);

impl Write for LogsWhileWriting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains("reenter") {
            log::warn!(source = "writer"; "writer-trouble (reenter): slow disk");
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        log::info!("writer-flushed");
        Ok(())
    }
}

#[test]
#[ignore = "run as a child process by a_console_writer_that_logs_never_deadlocks_and_its_records_still_ship"]
fn child_writer_that_logs() {
    if !is_child() {
        return;
    }
    let server = IngestServer::start();
    let console = Arc::new(Mutex::new(Vec::new()));
    let guard = logiscout::init(
        logiscout::Config::new("writer-logs")
            .env(logiscout::Env::Prod)
            .api_token("lgs_writer")
            .endpoint(server.url())
            .console(logiscout::Console::Json)
            .console_writer(LogsWhileWriting(console.clone()))
            .read_rust_log(false)
            .filter("info"),
    )
    .unwrap();

    log::info!("reenter-1 first record");
    log::info!("plain record");
    // The writer's `flush` logs too.
    let report = logiscout::flush(Duration::from_secs(10));
    assert!(report.complete, "{report:?}");

    // The record, then the writer's report about it (written right after), then the next record, then
    // what the writer's `flush` logged. What the writer logs while writing its own report is shipped but
    // not printed: no loop.
    let printed: Vec<String> = messages(&json_lines(&console))
        .into_iter()
        .filter(|m| m.contains("record") || m.starts_with("writer-"))
        .collect();
    assert_eq!(
        printed,
        [
            "reenter-1 first record",
            "writer-trouble (reenter): slow disk",
            "plain record",
            "writer-flushed",
        ]
    );

    // Every record shipped, the re-entrant ones included.
    let shipped: Vec<String> = server
        .accepted_logs()
        .into_iter()
        .map(|(_, l)| l["message"].as_str().unwrap().to_owned())
        .collect();
    for want in ["reenter-1 first record", "plain record"] {
        assert!(shipped.iter().any(|m| m == want), "{want}: {shipped:?}");
    }
    // One report for the first record, one for the report itself (logged while it was written).
    assert_eq!(
        shipped
            .iter()
            .filter(|m| m.starts_with("writer-trouble"))
            .count(),
        2,
        "{shipped:?}"
    );
    assert_eq!(report.stats.logs_dropped, 0, "{report:?}");
    drop(guard);
}

#[test]
fn a_console_writer_that_panics_is_reported_once_and_the_next_records_print() {
    let stderr = run_child("child_writer_that_panics");
    let reports = stderr
        .lines()
        .filter(|l| l.starts_with("logiscout: the console writer panicked"))
        .count();
    assert_eq!(reports, 1, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("logiscout: the console writer panicked (disk on fire)")),
        "{stderr}"
    );
}

/// Panics on every line that mentions "boom".
struct PanicsOnBoom(Arc<Mutex<Vec<u8>>>, Arc<AtomicUsize>);

impl Write for PanicsOnBoom {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains("boom") {
            self.1.fetch_add(1, Ordering::Relaxed);
            panic!("disk on fire");
        }
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
#[ignore = "run as a child process by a_console_writer_that_panics_is_reported_once_and_the_next_records_print"]
fn child_writer_that_panics() {
    if !is_child() {
        return;
    }
    let console = Arc::new(Mutex::new(Vec::new()));
    let panics = Arc::new(AtomicUsize::new(0));
    let guard = logiscout::init(
        logiscout::Config::new("writer-panics")
            .console(logiscout::Console::Json)
            .console_writer(PanicsOnBoom(console.clone(), panics.clone()))
            .read_rust_log(false),
    )
    .unwrap();

    // None of these calls panics, and the records after each panic print.
    log::info!("boom-1");
    log::info!("after-1");
    log::info!("boom-2");
    log::info!("after-2");
    std::thread::spawn(|| log::info!("after-3 from another thread"))
        .join()
        .unwrap();
    log::logger().flush();

    assert_eq!(panics.load(Ordering::Relaxed), 2);
    assert_eq!(
        messages(&json_lines(&console)),
        ["after-1", "after-2", "after-3 from another thread"]
    );
    drop(guard);
}
