//! Graceful shutdown in a real process: a child logs 10,000 records, receives SIGTERM, follows the
//! documented pattern (wait for the signal, then `guard.shutdown`), and every record arrives.
//!
//! The child is this same test binary, run again with `--ignored --exact child_process` and
//! `LOGISCOUT_CHILD_ENDPOINT` set. It reports through a file (`LOGISCOUT_CHILD_REPORT`): the test
//! harness may capture its standard output.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use logiscout_testkit::IngestServer;

const RECORDS: u64 = 10_000;

#[cfg(unix)]
#[test]
fn sigterm_with_the_documented_pattern_delivers_every_record() {
    let server = IngestServer::start_discarding();
    let report_file =
        std::env::temp_dir().join(format!("logiscout-child-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&report_file);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_process", "--test-threads=1"])
        .env("LOGISCOUT_CHILD_ENDPOINT", server.url())
        .env("LOGISCOUT_CHILD_REPORT", &report_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&report_file).unwrap_or_default();
    // Wait until the child has logged everything and waits for the signal.
    let waiting = Instant::now();
    while !read().lines().any(|l| l == "ready") {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child ended early: {status:?}");
        }
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "child never got ready"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let report = read();
    let _ = std::fs::remove_file(&report_file);
    assert!(
        report
            .lines()
            .any(|l| l == format!("sent {RECORDS} dropped 0")),
        "{report:?}"
    );
    // The server saw every batch (the child counted 2xx answers; this checks the server side too).
    let (posts, bytes) = server.discarded();
    assert!(posts >= RECORDS / 200, "{posts} posts");
    assert!(bytes > RECORDS * 100, "{bytes} bytes");
}

/// The child: not a test of its own (ignored), only run by the test above.
#[test]
#[ignore = "run as a child process by sigterm_with_the_documented_pattern_delivers_every_record"]
fn child_process() {
    let (Ok(endpoint), Ok(report_file)) = (
        std::env::var("LOGISCOUT_CHILD_ENDPOINT"),
        std::env::var("LOGISCOUT_CHILD_REPORT"),
    ) else {
        return;
    };
    let say = |line: String| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&report_file)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let guard = logiscout::init(
        logiscout::Config::new("sigterm-child")
            .env(logiscout::Env::Prod)
            .api_token("lgs_child")
            .endpoint(endpoint)
            .console(logiscout::Console::Off)
            .read_rust_log(false),
    )
    .unwrap();
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        for n in 0..RECORDS {
            log::info!(n = n, ratio = 0.5, who = "child"; "record from the child");
        }
        say("ready".to_owned());
        term.recv().await;
    });
    // The documented pattern: after the signal, shut down with a deadline.
    let report = guard.shutdown(Duration::from_secs(4));
    say(format!(
        "sent {} dropped {}",
        report.stats.logs_sent, report.stats.logs_dropped
    ));
}
