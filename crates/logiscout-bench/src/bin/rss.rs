//! Peak memory with the ingest endpoint down: does `Config::max_buffer_bytes` bound what logiscout holds
//! when nothing can be delivered?
//!
//! ```text
//! cargo build --release -p logiscout-bench --bin rss
//! target/release/rss                                # caps "default,4194304", 1,000,000 records each
//! target/release/rss --caps default,4194304 --records 1000000
//! target/release/rss --max-buffer-bytes 8388608     # one cap (same as --caps 8388608)
//! ```
//!
//! Each cap runs in a child process (this binary re-executed with `--child`), because the peak RSS
//! (`VmHWM`) is a per-process high-water mark. The child:
//!
//! 1. takes a loopback port that refuses connections (binds a `TcpListener` on 127.0.0.1:0, notes the
//!    port, drops the listener), and initialises logiscout in `Env::Prod` shipping there, console off,
//!    filter `info`, with the cap (`default` = `Config`'s own default, read from its `Debug` output, not
//!    assumed) and the queue length (`--max-queue-logs`, default `Config`'s default);
//! 2. logs 500 warm-up records and waits 300 ms so the worker has built its HTTP client and failed its
//!    first connections; then reads the baseline `VmRSS` from `/proc/self/status` and resets `VmHWM` to it
//!    (`echo 5 > /proc/self/clear_refs`);
//! 3. logs `--records` benchmark records (`log::info!(user_id = i, ratio = 0.25, region = "eu-west-1";
//!    "Order created okay!!")` inside one correlation scope) as fast as one thread can, waits 1 s for the
//!    worker to take what is queued, and reads the peak `VmHWM` and `logiscout::stats()`.
//!
//! Pass criterion: `peak - baseline <= max_buffer_bytes + constant_allowance_bytes`. The allowance is
//! what worker.rs holds outside the byte cap, plus allocator slack (see [`allowance`]). The process exits
//! non-zero when a run fails it.
//!
//! Writes `target/bench-results/rss.json`: `{"runs": [...]}`, one run per cap, replacing the file.

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use logiscout::correlation::{sync_scope, CorrelationId};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: rss [options]
      --records N            benchmark records logged per run (default 1000000)
      --caps LIST            comma-separated max_buffer_bytes values, `default` for Config's default;
                             each runs in its own child process (default \"default,4194304\")
      --max-buffer-bytes B   one cap only (same as --caps B)
      --max-queue-logs Q     the hand-off queue's length (default: Config's default)
  -h, --help                 this text
Writes target/bench-results/rss.json.";

/// Warm-up records logged before the baseline.
const WARMUP_RECORDS: u64 = 500;

/// Bytes allowed beyond `max_buffer_bytes`, with the reason for each part. Everything here was read off
/// crates/logiscout-core/src/worker.rs and batch.rs:
fn allowance(
    max_in_flight: u64,
    max_batch_logs: u64,
    max_queue_logs: u64,
) -> Vec<(&'static str, u64)> {
    vec![
        // Spent buffers kept for reuse hold no record, so the byte cap does not count them: the worker's
        // JSON bodies (`SPARE_BUFFERS` = 1024 of at most `SPARE_MAX_CAPACITY` = 2048 B), the capture pool
        // (`SPARE_BUNDLES` = 32 bundles of `BUNDLE` = 32 buffers of at most 512 B), and each logging
        // thread's cache of one bundle (one logging thread here, and the worker's bundle in the making).
        (
            "spare buffers: 1024 x 2048 B (JSON) + 32 x 32 x 512 B (captures) + 2 x 32 x 512 B (thread caches)",
            1024 * 2048 + 32 * 32 * 512 + 2 * 32 * 512,
        ),
        // The hand-off queue (crossbeam's bounded array) allocates its `max_queue_logs` slots at `init`;
        // their pages become resident as the queue first fills, which happens after the baseline. A slot
        // holds one event (the capture's header, timestamp and correlation ID, not its buffer): under 128 B.
        (
            "hand-off queue slots: max_queue_logs x 128 B",
            max_queue_logs * 128,
        ),
        // A batch in flight or waiting to retry keeps its encoded body (`EncodedBatch::body`) next to its
        // logs, which the cap already counts once. `max_in_flight` batches of `max_batch_logs` logs, each
        // encoded in at most 512 bytes here (the benchmark record's body is about 150 bytes, plus its
        // timestamp), plus the envelope.
        (
            "encoded bodies of batches in flight: max_in_flight x (max_batch_logs x 512 B + 4 KiB)",
            max_in_flight * (max_batch_logs * 512 + 4096),
        ),
        // glibc malloc keeps freed chunks (the logging thread allocates capture buffers, the worker frees
        // them; grown `VecDeque`s leave their old blocks behind) instead of returning them at once. A
        // margin, not a fitted value.
        ("allocator slack", 1 << 20),
    ]
}

struct Options {
    records: u64,
    caps: Vec<Option<u64>>,
    max_queue_logs: Option<u64>,
    child: bool,
}

fn parse_cap(v: &str) -> Result<Option<u64>, String> {
    match v.trim() {
        "default" => Ok(None),
        n => n
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| format!("expected a byte count or `default`, got {n:?}")),
    }
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        records: 1_000_000,
        caps: vec![None, Some(4 << 20)],
        max_queue_logs: None,
        child: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--child" => {
                o.child = true;
                continue;
            }
            _ => {}
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let positive = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag}: expected a positive integer, got {v:?}"))
        };
        match flag.as_str() {
            "--records" => o.records = positive(&value)?,
            "--max-queue-logs" => o.max_queue_logs = Some(positive(&value)?),
            "--max-buffer-bytes" => {
                o.caps = vec![parse_cap(&value).map_err(|e| format!("{flag}: {e}"))?]
            }
            "--caps" => {
                o.caps = value
                    .split(',')
                    .map(parse_cap)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{flag}: {e}"))?;
            }
            _ => return Err(format!("unknown option {flag:?}\n{USAGE}")),
        }
    }
    if o.child && o.caps.len() != 1 {
        return Err("--child runs exactly one cap".to_owned());
    }
    Ok(o)
}

/// A numeric field of `Config`'s `Debug` output (`name: 123`): the library's own default, so this
/// benchmark never reports a default it assumed.
fn config_default(name: &str) -> Result<u64, String> {
    let shown = format!("{:?}", logiscout::Config::new("rss"));
    let key = format!("{name}: ");
    let start = shown
        .find(&key)
        .ok_or_else(|| format!("`{name}` not found in Config's Debug output: {shown}"))?
        + key.len();
    let digits: String = shown[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .map_err(|_| format!("`{name}` in Config's Debug output is not a number: {shown}"))
}

/// A `kB` line of /proc/self/status, in bytes.
fn proc_status_bytes(field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .ok_or_else(|| format!("{field} not in /proc/self/status"))?;
    let kb: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| format!("cannot parse {line:?}"))?;
    Ok(kb * 1024)
}

/// One run, in this process: returns the run's JSON object.
fn child(o: &Options) -> Result<Value, String> {
    let max_buffer_bytes = match o.caps[0] {
        Some(b) => b,
        None => config_default("max_buffer_bytes")?,
    };
    let max_queue_logs = match o.max_queue_logs {
        Some(q) => q,
        None => config_default("max_queue_logs")?,
    };
    let max_in_flight = config_default("max_in_flight")?;
    let max_batch_logs = config_default("max_batch_logs")?;

    // An endpoint that refuses connections: a port that was free a moment ago.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
        listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?
            .port()
    };
    let guard = logiscout::init(
        logiscout::Config::new("rss-bench")
            .env(logiscout::Env::Prod)
            .api_token("lgs_bench")
            .endpoint(format!("http://127.0.0.1:{port}/ingest"))
            .console(logiscout::Console::Off)
            .read_rust_log(false)
            .filter("info")
            .max_buffer_bytes(max_buffer_bytes as usize)
            .max_queue_logs(max_queue_logs as usize),
    )
    .map_err(|e| format!("logiscout::init failed: {e}"))?;

    let id = CorrelationId::new("bench-request-0001");
    sync_scope(id.clone(), || {
        for i in 0..WARMUP_RECORDS {
            log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let baseline = proc_status_bytes("VmRSS")?;
    // Reset the high-water mark to the current RSS, so the peak is the logging phase's.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!(
            "rss: could not reset VmHWM ({e}); the peak may include the start-up (the growth is overstated)"
        );
    }

    let start = Instant::now();
    sync_scope(id, || {
        for i in 0..o.records {
            log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    // Let the worker move what is queued into its batches (it wakes at least every 100 ms).
    std::thread::sleep(Duration::from_secs(1));
    let peak = proc_status_bytes("VmHWM")?;
    let rss_after = proc_status_bytes("VmRSS")?;
    let stats = logiscout::stats();

    let parts = allowance(max_in_flight, max_batch_logs, max_queue_logs);
    let constant: u64 = parts.iter().map(|(_, b)| b).sum();
    let growth = peak.saturating_sub(baseline);
    let within_cap = growth <= max_buffer_bytes + constant;
    eprintln!(
        "rss: cap {max_buffer_bytes} B, queue {max_queue_logs}: baseline {baseline} B, peak {peak} B (RSS after {rss_after} B), growth {growth} B = {:.2} x cap; allowed {} B; {} enqueued, {} dropped, {:.2} s -> {}",
        growth as f64 / max_buffer_bytes as f64,
        max_buffer_bytes + constant,
        stats.logs_enqueued,
        stats.logs_dropped,
        seconds,
        if within_cap { "within cap" } else { "OVER CAP" }
    );
    // Records still held (queued, batched or in flight): nothing was sent, so enqueued - dropped.
    let held = stats
        .logs_enqueued
        .saturating_sub(stats.logs_dropped)
        .max(1);
    eprintln!(
        "rss:   {held} records held: {:.0} B of RSS growth each, against at most {:.0} B each counted by the cap",
        growth as f64 / held as f64,
        max_buffer_bytes as f64 / held as f64
    );
    for (why, bytes) in &parts {
        eprintln!("rss:   allowance {bytes:>9} B  {why}");
    }
    // Nothing can be delivered: do not wait for the shutdown deadline.
    std::mem::forget(guard);
    Ok(json!({
        "records": o.records,
        "max_buffer_bytes": max_buffer_bytes,
        "max_queue_logs": max_queue_logs,
        "constant_allowance_bytes": constant,
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "growth_bytes": growth,
        "within_cap": within_cap,
        "logs_enqueued": stats.logs_enqueued,
        "logs_dropped": stats.logs_dropped,
        "seconds": seconds,
    }))
}

/// Runs each cap in a child process and writes rss.json.
fn parent(o: &Options) -> Result<bool, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut runs = Vec::new();
    for cap in &o.caps {
        let mut cmd = Command::new(&exe);
        cmd.arg("--child")
            .arg("--records")
            .arg(o.records.to_string())
            .arg("--max-buffer-bytes")
            .arg(cap.map_or_else(|| "default".to_owned(), |c| c.to_string()));
        if let Some(q) = o.max_queue_logs {
            cmd.arg("--max-queue-logs").arg(q.to_string());
        }
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("the run with cap {cap:?} failed ({})", out.status));
        }
        let run: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "the run with cap {cap:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        runs.push(run);
    }
    let all_within = runs.iter().all(|r| r["within_cap"] == Value::Bool(true));
    let path = logiscout_bench::write_result("rss.json", &json!({ "runs": runs }));
    eprintln!("rss: wrote {}", path.display());
    Ok(all_within)
}

fn main() -> ExitCode {
    let o = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rss: {e}");
            return ExitCode::from(2);
        }
    };
    if o.child {
        return match child(&o) {
            Ok(run) => {
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{run}").and_then(|()| out.flush()).is_err() {
                    eprintln!("rss: cannot write the result to standard output");
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rss: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match parent(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "rss: FAILED: the growth of at least one run exceeded its cap plus the allowance"
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rss: {e}");
            ExitCode::FAILURE
        }
    }
}
