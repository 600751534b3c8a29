//! Issue 14: one record with 4,000 key-values borrowing one 1 MB string. Without a record cap its copy
//! took 4,000 × 32 KiB = 125 MiB in one call. With `Config::max_record_bytes` (default 1 MiB) the call's
//! peak RSS grows by at most the cap + 2 MiB, on the shipping path and on each console format, and the
//! record still arrives: its first key-values and `"logiscout.truncated_keys"` counting the rest.
//!
//! Peak RSS (`VmHWM`, Linux) is a per-process high-water mark and a process installs one logger, so each
//! case runs in a child: this test binary run again with `LOGISCOUT_RECORD_CAP_CASE` set, filtered to
//! `child` (which does nothing otherwise). The baseline is taken after everything the record borrows
//! exists and the pipeline is warm, and `VmHWM` is reset to it (`echo 5 > /proc/self/clear_refs`), as
//! `logiscout-bench`'s `rss` does.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logiscout_testkit::IngestServer;

const CASE_VAR: &str = "LOGISCOUT_RECORD_CAP_CASE";
const KEYS: usize = 4000;
const VALUE_BYTES: usize = 1_000_000;
const ALLOWANCE: u64 = 2 << 20;
/// The record's message (the literal in `run` too).
const MESSAGE: &str = "one record, 4,000 values, one megabyte";

#[test]
fn one_record_of_4000_values_borrowing_a_megabyte_stays_within_the_record_cap() {
    let exe = std::env::current_exe().expect("the test binary");
    for case in ["ship", "json", "pretty"] {
        let out = Command::new(&exe)
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CASE_VAR, case)
            .output()
            .expect("the child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The figures, for `cargo test --test record_cap -- --nocapture`.
        for line in stderr.lines().filter(|l| l.starts_with("record_cap:")) {
            eprintln!("{line}");
        }
        assert!(
            out.status.success() && stderr.contains(&format!("record_cap: {case}: ok")),
            "case {case} failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
    }
}

/// One case, in its own process; a no-op in the parent's run.
#[test]
fn child() {
    if let Ok(case) = std::env::var(CASE_VAR) {
        run(&case);
    }
}

/// A console writer that keeps nothing (a copy of the line would count against the call): it notes each
/// line's length and whether it carries the marker.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<(usize, bool)>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let marker = buf
            .windows(b"logiscout.truncated_keys".len())
            .any(|w| w == b"logiscout.truncated_keys");
        self.0.lock().unwrap().push((buf.len(), marker));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `kB` line of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"));
    let kb: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kb * 1024
}

/// `max_record_bytes` as `Config`'s `Debug` shows it: the library's default, not one assumed here.
fn default_record_cap() -> u64 {
    let shown = format!("{:?}", logiscout::Config::new("record-cap"));
    let start = shown
        .find("max_record_bytes: ")
        .expect("max_record_bytes in Debug")
        + 18;
    shown[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}

fn run(case: &str) {
    let console = match case {
        "ship" => logiscout::Console::Off,
        "json" => logiscout::Console::Json,
        "pretty" => logiscout::Console::Pretty,
        other => panic!("unknown case {other}"),
    };
    let cap = default_record_cap();
    let server = IngestServer::start();
    let sink = Sink::default();
    let guard = logiscout::init(
        logiscout::Config::new("record-cap-test")
            .env(logiscout::Env::Prod)
            .api_token("lgs_record_cap_token")
            .endpoint(server.url())
            .console(console)
            .console_writer(sink.clone())
            .read_rust_log(false)
            .filter("info")
            .max_batch_wait(Duration::from_millis(200)),
    )
    .unwrap();

    // Everything the record borrows exists before the baseline.
    let big = "x".repeat(VALUE_BYTES);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key_{i:04}")).collect();
    let kvs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), big.as_str())).collect();
    let record = log::Record::builder()
        .args(format_args!("one record, 4,000 values, one megabyte"))
        .target("record_cap")
        .level(log::Level::Info)
        .key_values(&kvs)
        .build();
    // A warm pipeline: the worker's HTTP client, the connection, the server.
    log::info!(n = 1; "warm-up");
    assert!(logiscout::flush(Duration::from_secs(10)).complete);
    std::thread::sleep(Duration::from_millis(200));

    let baseline = proc_status_bytes("VmRSS");
    std::fs::write("/proc/self/clear_refs", "5").expect("VmHWM reset");
    let start = Instant::now();
    log::logger().log(&record);
    let took = start.elapsed();
    let peak = proc_status_bytes("VmHWM");
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "record_cap: {case}: cap {cap} B; baseline {baseline} B, peak {peak} B: growth {growth} B \
         ({:.2} MiB) in {took:?}; allowed {} B",
        growth as f64 / (1 << 20) as f64,
        cap + ALLOWANCE
    );
    assert!(
        growth <= cap + ALLOWANCE,
        "{case}: the call grew RSS by {growth} B, past the cap {cap} B + {ALLOWANCE} B"
    );

    // Delivered, cut: the first key-values whole (cut at max_string_bytes each), the rest counted.
    let report = logiscout::flush(Duration::from_secs(10));
    assert!(report.complete, "{report:?}");
    let stats = logiscout::stats();
    assert_eq!(stats.logs_dropped, 0, "{stats:?}");
    assert_eq!(stats.logs_sent, stats.logs_enqueued, "{stats:?}");
    let logs = server.accepted_logs();
    let (_, shipped) = logs
        .iter()
        .find(|(_, l)| l["message"] == MESSAGE)
        .expect("the record arrived");
    let metadata = shipped["metadata"].as_object().unwrap();
    let left_out = metadata["logiscout.truncated_keys"].as_u64().unwrap() as usize;
    let kept = metadata.len() - 1;
    assert!(kept > 0 && kept + left_out == KEYS, "{kept} + {left_out}");
    assert!(
        kept as u64 * 32 * 1024 <= cap,
        "{kept} key-values of 32 KiB"
    );
    assert!(metadata["key_0000"]
        .as_str()
        .unwrap()
        .ends_with("…[truncated 967232 bytes]"));
    let body = serde_json::to_vec(shipped).unwrap();
    assert!(body.len() as u64 <= cap + 1024, "{}", body.len());
    eprintln!(
        "record_cap: {case}: shipped {kept} key-values, {left_out} left out, {} B",
        body.len()
    );

    if console != logiscout::Console::Off {
        let lines = sink.0.lock().unwrap();
        let (len, marker) = *lines.iter().max_by_key(|(len, _)| *len).unwrap();
        assert!(marker, "the console line carries the marker");
        assert!(len as u64 <= cap + 1024, "console line of {len} B");
        eprintln!("record_cap: {case}: console line {len} B");
    }
    drop(guard);
    eprintln!("record_cap: {case}: ok");
}
