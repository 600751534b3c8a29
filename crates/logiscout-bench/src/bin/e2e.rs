//! End to end: logs per second *delivered* into the real `logiscout-sink` (schema validation on), and
//! bytes per log on the wire, with the sink answering after 0 ms and 50 ms, logiscout's gzip off and on.
//!
//! ```sh
//! cargo run --release -p logiscout-bench --bin e2e                      # the full run (well under a minute)
//! cargo run --release -p logiscout-bench --bin e2e -- --logs-0ms 20000 --logs-50ms 5000 --repeats 1
//! ```
//!
//! Flags: `--logs-0ms N` (default 200,000), `--logs-50ms N` (default 50,000), `--repeats R` (default 3).
//!
//! Each run is one child process (`logiscout::init` can be called once per process; the binary re-executes
//! itself with `--child`). The child starts the sink in-process on 127.0.0.1 (its library API, quiet, not
//! keeping batches in memory), initialises logiscout in `Env::Prod` shipping to it (console off, filter
//! `info`, gzip as asked), then logs N benchmark records from one thread as fast as it can, inside a
//! correlation scope, and calls `logiscout::flush`. The time is from just before the first record to the
//! flush's return, so `N / time` is delivered logs per second. There is no warm-up: the first connections
//! are part of the run. The hand-off queue and buffer are sized to hold all N records (the defaults, 20,000
//! records and 32 MiB, would drop most of a 200,000-record burst), because a figure reached by dropping
//! records would be worthless: the run fails unless the sink accepted exactly N logs, nobody dropped any
//! and nothing was refused. Bytes per log are the request body bytes the sink read (compressed bytes with
//! gzip; HTTP headers not counted) divided by N.
//!
//! The child also measures, from `/proc/self/task/*/schedstat` (Linux), the CPU time of the sink's
//! thread, logiscout's worker and the logging thread during the run. When, in the 0 ms runs, the sink's
//! one thread needed more CPU per log than logiscout's two threads together (or was busy at least 85% of
//! the run), the sink is the pipeline's most expensive stage: then a last child times the sink's JSON
//! parsing and schema validation of one real 200-log batch, to say which part costs most, and
//! `"bottleneck_note"` says so. Otherwise the JSON has no `"bottleneck_note"`. The per-run details are
//! printed on standard error.
//!
//! Writes `target/bench-results/e2e.json`: `{"server", "runs": [{"latency_ms", "gzip", "logs", "repeats",
//! "seconds", "median_logs_per_s", "wire_bytes", "bytes_per_log"}, ...], "bottleneck_note"?}`; the medians
//! are over the repeats, `wire_bytes` is the median of the repeats' byte counts.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use logiscout::correlation::{sync_scope, CorrelationId};
use logiscout_bench::child::{self, median, parse_count, ThreadCpu};
use logiscout_sink::{Faults, Sink, SinkConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const SERVER: &str = "logiscout-sink (in-process, schema validation on)";
const USAGE: &str = "usage: e2e [--logs-0ms N] [--logs-50ms N] [--repeats R]";
/// The sink thread's busy share of a run above which the sink is called the bottleneck.
const SATURATED: f64 = 0.85;
/// Records in the batch the probe times (the default batch size).
const PROBE_LOGS: u64 = 200;

/// What one child run measured; printed by the child as one JSON line on standard output.
#[derive(Debug, Serialize, Deserialize)]
struct RunResult {
    /// From just before the first record to the flush's return.
    seconds: f64,
    /// From just before the first record to the return of the last `log::info!`.
    log_loop_seconds: f64,
    sink_logs: u64,
    sink_rejected: u64,
    sink_duplicates: u64,
    sink_dropped_logs: u64,
    wire_bytes: u64,
    client_sent: u64,
    client_dropped: u64,
    /// CPU seconds of the sink's thread during the run (`None` where `/proc` has no schedstat).
    sink_cpu_seconds: Option<f64>,
    /// CPU seconds of logiscout's worker thread during the run.
    worker_cpu_seconds: Option<f64>,
    /// CPU seconds of the logging thread (the main thread) during the run.
    logging_cpu_seconds: Option<f64>,
}

/// What the probe measured: the sink's two heavy steps on one real batch, per log.
#[derive(Debug, Serialize, Deserialize)]
struct ProbeResult {
    body_bytes: usize,
    logs: u64,
    parse_ns_per_log: f64,
    validate_ns_per_log: f64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("--child") => child(&args[1..]),
        Some("--probe") => probe(),
        _ => parent(&args),
    };
    child::exit("e2e", outcome)
}

// ---------------------------------------------------------------------------------------------------
// The parent: runs the children, checks them, takes medians, writes the JSON.
// ---------------------------------------------------------------------------------------------------

fn parent(args: &[String]) -> Result<(), String> {
    let mut logs_0ms: u64 = 200_000;
    let mut logs_50ms: u64 = 50_000;
    let mut repeats: usize = 3;
    let run = child::parent_flags("e2e", args, USAGE, |flag, value| {
        match flag {
            "--logs-0ms" => logs_0ms = parse_count(flag, value()?)?,
            "--logs-50ms" => logs_50ms = parse_count(flag, value()?)?,
            "--repeats" => repeats = parse_count(flag, value()?)? as usize,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if !run {
        return Ok(());
    }

    let combos = [
        (0u64, false, logs_0ms),
        (0, true, logs_0ms),
        (50, false, logs_50ms),
        (50, true, logs_50ms),
    ];
    let mut runs = Vec::new();
    let mut cpu_0ms: Vec<CpuShare> = Vec::new();
    for (latency_ms, gzip, logs) in combos {
        let mut results = Vec::new();
        for rep in 1..=repeats {
            let label = format!(
                "latency {latency_ms} ms, gzip {}, {logs} logs, run {rep}/{repeats}",
                on_off(gzip)
            );
            let r = run_child(latency_ms, gzip, logs).map_err(|e| format!("{label}: {e}"))?;
            check(&r, logs).map_err(|e| format!("{label}: {e}"))?;
            let busy = |cpu: Option<f64>| {
                cpu.map_or("n/a".to_owned(), |c| {
                    format!("{c:.3} s ({:.0}% of the run)", 100.0 * c / r.seconds)
                })
            };
            eprintln!(
                "e2e: {label}: {:.3} s, {:.0} logs/s delivered, {} wire bytes ({:.1}/log); \
                 logging loop {:.3} s; CPU: sink thread {}, logiscout worker {}, logging thread {}",
                r.seconds,
                logs as f64 / r.seconds,
                r.wire_bytes,
                r.wire_bytes as f64 / logs as f64,
                r.log_loop_seconds,
                busy(r.sink_cpu_seconds),
                busy(r.worker_cpu_seconds),
                busy(r.logging_cpu_seconds),
            );
            results.push(r);
        }
        let seconds: Vec<f64> = results.iter().map(|r| r.seconds).collect();
        let median_seconds = median(&seconds);
        let wire_bytes = median(
            &results
                .iter()
                .map(|r| r.wire_bytes as f64)
                .collect::<Vec<_>>(),
        )
        .round() as u64;
        if latency_ms == 0 {
            if let Some(share) = CpuShare::of(gzip, logs, &results) {
                cpu_0ms.push(share);
            }
        }
        runs.push(json!({
            "latency_ms": latency_ms,
            "gzip": gzip,
            "logs": logs,
            "repeats": repeats,
            "seconds": seconds,
            "median_logs_per_s": logs as f64 / median_seconds,
            "wire_bytes": wire_bytes,
            "bytes_per_log": wire_bytes as f64 / logs as f64,
        }));
    }

    let mut out = json!({ "server": SERVER, "runs": runs });
    if let Some(note) = bottleneck_note(&cpu_0ms)? {
        eprintln!("e2e: bottleneck: {note}");
        out["bottleneck_note"] = Value::String(note);
    }
    let path = logiscout_bench::write_result("e2e.json", &out);
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    eprintln!("e2e: wrote {}", path.display());
    Ok(())
}

/// Where the CPU went in the 0 ms runs of one gzip setting: medians over the repeats.
struct CpuShare {
    gzip: bool,
    /// The sink thread's CPU time over the run's wall time.
    sink_busy: f64,
    /// The sink thread's CPU per log.
    sink_ns_per_log: f64,
    /// logiscout's CPU per log: the logging thread and the worker together.
    client_ns_per_log: f64,
    /// The logging loop's share of the run (the rest is waiting for delivery).
    loop_share: f64,
}

impl CpuShare {
    /// `None` when the CPU times could not be read.
    fn of(gzip: bool, logs: u64, results: &[RunResult]) -> Option<CpuShare> {
        let mut busy = Vec::new();
        let mut sink = Vec::new();
        let mut client = Vec::new();
        for r in results {
            let (s, w, l) = (
                r.sink_cpu_seconds?,
                r.worker_cpu_seconds?,
                r.logging_cpu_seconds?,
            );
            busy.push(s / r.seconds);
            sink.push(s * 1e9 / logs as f64);
            client.push((w + l) * 1e9 / logs as f64);
        }
        let loop_share: Vec<f64> = results
            .iter()
            .map(|r| r.log_loop_seconds / r.seconds)
            .collect();
        Some(CpuShare {
            gzip,
            sink_busy: median(&busy),
            sink_ns_per_log: median(&sink),
            client_ns_per_log: median(&client),
            loop_share: median(&loop_share),
        })
    }

    /// The sink is the most expensive stage: its one thread needs more CPU per log than logiscout's two
    /// together, or it was busy nearly all the run.
    fn sink_bound(&self) -> bool {
        self.sink_ns_per_log >= self.client_ns_per_log || self.sink_busy >= SATURATED
    }
}

/// When the sink, not logiscout, is the most expensive stage of the 0 ms runs, says so, and what in the
/// sink costs most.
fn bottleneck_note(cpu_0ms: &[CpuShare]) -> Result<Option<String>, String> {
    let bound: Vec<&CpuShare> = cpu_0ms.iter().filter(|c| c.sink_bound()).collect();
    if bound.is_empty() {
        return Ok(None);
    }
    let probe = run_probe()?;
    let heavier = if probe.validate_ns_per_log >= probe.parse_ns_per_log {
        "schema validation is its largest cost"
    } else {
        "its largest cost is JSON parsing, not schema validation"
    };
    let cases: Vec<String> = bound
        .iter()
        .map(|c| {
            format!(
                "gzip {}: {:.0} ns of sink CPU per log against {:.0} ns for logiscout's logging thread and worker together, \
                 sink thread busy {:.0}% of the run, all records logged after {:.0}% of it",
                on_off(c.gzip),
                c.sink_ns_per_log,
                c.client_ns_per_log,
                c.sink_busy * 100.0,
                c.loop_share * 100.0
            )
        })
        .collect();
    Ok(Some(format!(
        "At 0 ms the sink, not logiscout, is the most expensive stage of the pipeline ({}; medians of the repeats, \
         CPU time from /proc schedstat; the three threads share 2 cores). \
         Timed apart on one real {}-log batch ({} bytes), the sink spends {:.0} ns \
         per log parsing the JSON into serde_json::Value and {:.0} ns on schema validation: {heavier}. \
         The 0 ms figures measure logiscout plus this sink, not logiscout's own ceiling.",
        cases.join("; "),
        probe.logs,
        probe.body_bytes,
        probe.parse_ns_per_log,
        probe.validate_ns_per_log,
    )))
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn run_child(latency_ms: u64, gzip: bool, logs: u64) -> Result<RunResult, String> {
    let args = [
        "--child".to_owned(),
        latency_ms.to_string(),
        on_off(gzip).to_owned(),
        logs.to_string(),
    ];
    child::run_self(&args, |_| false)
}

fn run_probe() -> Result<ProbeResult, String> {
    child::run_self(&["--probe".to_owned()], |_| false)
}

/// The cross-check the child already made, made again on what it reported.
fn check(r: &RunResult, logs: u64) -> Result<(), String> {
    let mut problems = Vec::new();
    if r.sink_logs != logs {
        problems.push(format!(
            "the sink accepted {} logs, not {logs}",
            r.sink_logs
        ));
    }
    if r.client_sent != logs {
        problems.push(format!(
            "logiscout counted {} logs sent, not {logs}",
            r.client_sent
        ));
    }
    if r.client_dropped != 0 || r.sink_dropped_logs != 0 {
        problems.push(format!(
            "logs were dropped (logiscout: {}, reported to the sink: {})",
            r.client_dropped, r.sink_dropped_logs
        ));
    }
    if r.sink_rejected != 0 {
        problems.push(format!("the sink refused {} bodies", r.sink_rejected));
    }
    if problems.is_empty() {
        if r.sink_duplicates != 0 {
            eprintln!(
                "e2e: warning: {} batches were sent twice (retries); their bytes are counted",
                r.sink_duplicates
            );
        }
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------------
// A child: one measured run.
// ---------------------------------------------------------------------------------------------------

fn child(args: &[String]) -> Result<(), String> {
    let [latency_ms, gzip, logs] = args else {
        return Err(format!(
            "--child takes LATENCY_MS on|off LOGS, not {args:?}"
        ));
    };
    let latency_ms: u64 = latency_ms
        .parse()
        .map_err(|_| format!("bad latency `{latency_ms}`"))?;
    let gzip = gzip == "on";
    let logs = parse_count("LOGS", logs)?;

    let sink = Sink::start(SinkConfig {
        quiet: true,
        keep_batches: false,
        faults: Faults {
            latency: Duration::from_millis(latency_ms),
            ..Faults::default()
        },
        ..SinkConfig::default()
    })
    .map_err(|e| format!("the sink did not start: {e}"))?;
    // Room for the whole burst: see the module documentation.
    let config = child::burst_config("bench", sink.url(), logs)?
        .api_token("lgs_bench")
        .gzip(gzip);
    let guard = logiscout::init(config).map_err(|e| format!("logiscout::init failed: {e}"))?;

    let cpu_before = ThreadCpu::now();
    let id = CorrelationId::new("bench-request-0001");
    let start = Instant::now();
    let log_loop = sync_scope(id, || {
        child::log_burst(logs);
        start.elapsed()
    });
    let report = logiscout::flush(Duration::from_secs(300));
    let elapsed = start.elapsed();
    let cpu_after = ThreadCpu::now();
    if !report.complete {
        return Err(format!(
            "logiscout::flush did not finish within 300 s: {report:?}"
        ));
    }
    // Each answer is sent after the sink counted its batch, so the counts are final; wait briefly anyway.
    sink.wait_until(Duration::from_secs(2), |s| s.logs >= logs);
    let final_report = guard.shutdown(Duration::from_secs(10));
    let wire_bytes = sink.wire_bytes();
    let stats = sink.shutdown();

    let main_tid = ThreadCpu::main_tid();
    let cpu = |keep: &dyn Fn(&str, &str) -> bool| {
        ThreadCpu::seconds(cpu_before.as_ref(), cpu_after.as_ref(), keep)
    };
    let result = RunResult {
        seconds: elapsed.as_secs_f64(),
        log_loop_seconds: log_loop.as_secs_f64(),
        sink_logs: stats.logs,
        sink_rejected: stats.rejected,
        sink_duplicates: stats.duplicates,
        sink_dropped_logs: stats.dropped_logs,
        wire_bytes,
        client_sent: final_report.stats.logs_sent,
        client_dropped: final_report.stats.logs_dropped,
        sink_cpu_seconds: cpu(&|_, name| name.starts_with("logiscout-sink")),
        // Thread names are cut to 15 bytes in /proc: "logiscout-worke".
        worker_cpu_seconds: cpu(&|_, name| name.starts_with("logiscout-work")),
        logging_cpu_seconds: cpu(&|tid, _| tid == main_tid),
    };
    // Fail loudly here too, so a child run on its own says what went wrong.
    check(&result, logs)?;
    println!(
        "{}",
        serde_json::to_string(&result).map_err(|e| format!("cannot encode the result: {e}"))?
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// The probe: what the sink's JSON parsing and schema validation cost on one real batch.
// ---------------------------------------------------------------------------------------------------

fn probe() -> Result<(), String> {
    // One real batch: logiscout's own encoding of PROBE_LOGS benchmark records, as the sink stored it.
    let sink = Sink::start(SinkConfig {
        quiet: true,
        ..SinkConfig::default()
    })
    .map_err(|e| format!("the sink did not start: {e}"))?;
    // The default queue and byte cap: a burst this small fits in them.
    let config = child::burst_config("bench", sink.url(), PROBE_LOGS)?.api_token("lgs_bench");
    let guard = logiscout::init(config).map_err(|e| format!("logiscout::init failed: {e}"))?;
    sync_scope(CorrelationId::new("bench-request-0001"), || {
        child::log_burst(PROBE_LOGS)
    });
    let report = logiscout::flush(Duration::from_secs(30));
    guard.shutdown(Duration::from_secs(5));
    let batches = sink.batches();
    let Some(batch) = batches.first() else {
        return Err(format!("no batch arrived at the sink: {report:?}"));
    };
    let logs: u64 = batch["payloads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["logs"].as_array().map_or(0, Vec::len) as u64)
        .sum();
    let body = serde_json::to_vec(batch).map_err(|e| format!("cannot encode the batch: {e}"))?;
    drop(sink);

    let schema: Value = serde_json::from_str(logiscout_sink::SCHEMA)
        .map_err(|e| format!("the sink's schema is not JSON: {e}"))?;
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| format!("the sink's schema does not compile: {e}"))?;

    // The same calls as the sink: `serde_json::from_slice` into a `Value`, then `iter_errors`.
    let parse_ns = time_per_iter(|| {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        std::hint::black_box(v);
    });
    let parsed: Value =
        serde_json::from_slice(&body).map_err(|e| format!("cannot parse the batch: {e}"))?;
    let errors = validator.iter_errors(&parsed).count();
    if errors != 0 {
        return Err(format!(
            "the batch does not match the schema ({errors} errors)"
        ));
    }
    let validate_ns = time_per_iter(|| {
        std::hint::black_box(validator.iter_errors(std::hint::black_box(&parsed)).count());
    });
    let result = ProbeResult {
        body_bytes: body.len(),
        logs,
        parse_ns_per_log: parse_ns / logs as f64,
        validate_ns_per_log: validate_ns / logs as f64,
    };
    println!(
        "{}",
        serde_json::to_string(&result).map_err(|e| format!("cannot encode the result: {e}"))?
    );
    Ok(())
}

/// Mean ns per call of `f` over about half a second, after a short warm-up.
fn time_per_iter(mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..10 {
            f();
        }
        n += 10;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}
