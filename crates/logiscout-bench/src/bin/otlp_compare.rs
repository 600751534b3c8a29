//! logiscout's OTLP export against OpenTelemetry's own (`opentelemetry-appender-log` into an
//! `opentelemetry_sdk` batch processor and `opentelemetry-otlp`'s HTTP exporter): logs per second
//! *delivered* into one loopback receiver, and request-body bytes per log, for the same records (issue 16).
//!
//! ```sh
//! scripts/otlp-compare.sh                  # = the release build and the full run below
//! cargo run --release -p logiscout-bench --features otlp-compare --bin otlp_compare -- --logs 200000 --rounds 5
//! cargo run -p logiscout-bench --features otlp-compare --bin otlp_compare -- --logs 2000 --rounds 1 --no-write  # CI
//! ```
//!
//! Flags: `--logs N` (default 200,000), `--rounds R` (default 3), `--variants a,b,..` (default all, names
//! below), `--no-write` (print only; do not write `target/bench-results/otlp_compare.json`).
//!
//! Variants, each one child process per run (a process holds one `log` logger; the binary re-executes
//! itself with `--child VARIANT N`):
//!
//! | variant | logger | protocol |
//! |---|---|---|
//! | `logiscout-otlp` | `logiscout::init`, `Protocol::Otlp` | OTLP/HTTP protobuf |
//! | `logiscout-otlp-512` | the same with `max_batch_logs(512)`, OpenTelemetry's batch size | OTLP/HTTP protobuf |
//! | `logiscout-otlp-json` | `logiscout::init`, `Protocol::OtlpJson` | OTLP/HTTP JSON |
//! | `logiscout-format` | `logiscout::init`, the default `Protocol::LogiScout` | LogiScout JSON (`/ingest`) |
//! | `otel-proto` | bridge + SDK batch processor with its defaults (queue 2,048, batch 512, delay 1 s) + `opentelemetry-otlp` `HttpBinary` | OTLP/HTTP protobuf |
//! | `otel-proto-queue` | the same with the queue raised to N (it drops nothing) | OTLP/HTTP protobuf |
//! | `otel-json-queue` | the same with `HttpJson`, queue N | OTLP/HTTP JSON |
//!
//! logiscout runs in `Env::Prod`, console off, filter `info`, gzip off, its other settings at their
//! defaults (batches of 200, 16 in flight) except the hand-off queue and byte cap, raised to hold all N
//! records (`max_queue_logs` N, `max_buffer_bytes` N KiB; the defaults, 20,000 records and 32 MiB, would
//! drop most of a 200,000-record burst, correctly). OpenTelemetry's exporter is built with no compression
//! (its gzip and zstd features are not even compiled) and reqwest's blocking client, the crate's default
//! client; the child's environment has no `OTEL_*` or `LOGISCOUT_*` variable (the parent removes them).
//!
//! A child starts the receiver on 127.0.0.1 in process, on a thread of its own (one current-thread tokio
//! runtime serving axum, like `logiscout-sink`): `POST /v1/logs` decodes each body completely with the
//! official `opentelemetry-proto` types, as a collector does (prost for `application/x-protobuf`, their
//! serde derive for `application/json`); `POST /ingest` parses the LogiScout JSON into a
//! `serde_json::Value` and counts `payloads[].logs[]` (no schema validation). It counts the records and
//! the body bytes as received, answers 200 (an empty `ExportLogsServiceResponse`, or `{}` in JSON) and
//! notes the time of each count. A body with a `Content-Encoding` other than `identity` is refused (the run
//! then fails): bytes are uncompressed on both sides.
//!
//! Then the child installs the logger, logs N records from its main thread as fast as it can, outside any
//! correlation scope (OpenTelemetry has none without a tracer and a span):
//! `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")`, and flushes
//! (`logiscout::flush`, `SdkLoggerProvider::force_flush`). The time runs from just before the first record
//! to the moment the receiver counted its last record, so `delivered / time` is delivered logs per second;
//! the loggers' start-up (logger built, exporter's HTTP client made) is before it, their first connections
//! inside it. Drops are N minus what the receiver counted (OpenTelemetry's batch processor keeps its drop
//! count private and drops silently when its queue is full; logiscout's own count must agree). CPU time
//! per thread comes from `/proc/self/task/*/schedstat`: the receiver's thread, and the sending side (every
//! other thread of the process: the logging thread, logiscout's worker or OpenTelemetry's batch thread and
//! reqwest's runtime thread).
//!
//! The parent runs `--rounds` rounds, each running every variant once, the order rotated by one each round;
//! it fails if a run got a compressed or undecodable body, if a logiscout run or a queue-N OpenTelemetry
//! run delivered anything but exactly N, or if a record arrived twice. It prints a table of medians and
//! writes `target/bench-results/otlp_compare.json`.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use logiscout_bench::child::{self, median, parse_count, ThreadCpu};
use logiscout_sink::otlp::opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;
use logiscout_sink::otlp::{record_count, ExportLogsServiceRequest, Format};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const USAGE: &str = "usage: otlp_compare [--logs N] [--rounds R] [--variants a,b,..] [--no-write]
variants: logiscout-otlp logiscout-otlp-512 logiscout-otlp-json logiscout-format otel-proto otel-proto-queue otel-json-queue";

/// The bodies the receiver takes (OpenTelemetry's own limit is 64 MiB; logiscout's batches are at most 4 MiB).
const MAX_BODY_BYTES: usize = 64 << 20;

/// How long a child waits for its flush, and then for the receiver to count the last records.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    LogiscoutOtlp,
    LogiscoutOtlp512,
    LogiscoutOtlpJson,
    LogiscoutFormat,
    OtelProto,
    OtelProtoQueue,
    OtelJsonQueue,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::LogiscoutOtlp,
        Variant::LogiscoutOtlp512,
        Variant::LogiscoutOtlpJson,
        Variant::LogiscoutFormat,
        Variant::OtelProto,
        Variant::OtelProtoQueue,
        Variant::OtelJsonQueue,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::LogiscoutOtlp => "logiscout-otlp",
            Variant::LogiscoutOtlp512 => "logiscout-otlp-512",
            Variant::LogiscoutOtlpJson => "logiscout-otlp-json",
            Variant::LogiscoutFormat => "logiscout-format",
            Variant::OtelProto => "otel-proto",
            Variant::OtelProtoQueue => "otel-proto-queue",
            Variant::OtelJsonQueue => "otel-json-queue",
        }
    }

    fn parse(s: &str) -> Result<Variant, String> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown variant `{s}`\n{USAGE}"))
    }

    fn label(self) -> &'static str {
        match self {
            Variant::LogiscoutOtlp => "**logiscout**, OTLP protobuf",
            Variant::LogiscoutOtlp512 => "**logiscout**, OTLP protobuf, batches of 512",
            Variant::LogiscoutOtlpJson => "**logiscout**, OTLP JSON",
            Variant::LogiscoutFormat => "**logiscout**, LogiScout format",
            Variant::OtelProto => "OpenTelemetry http-proto, SDK defaults (queue 2,048)",
            Variant::OtelProtoQueue => "OpenTelemetry http-proto, queue N",
            Variant::OtelJsonQueue => "OpenTelemetry http-json, queue N",
        }
    }

    fn is_logiscout(self) -> bool {
        matches!(
            self,
            Variant::LogiscoutOtlp
                | Variant::LogiscoutOtlp512
                | Variant::LogiscoutOtlpJson
                | Variant::LogiscoutFormat
        )
    }

    /// May it drop records (and still pass)? Only the OpenTelemetry batch processor at its default queue.
    fn may_drop(self) -> bool {
        self == Variant::OtelProto
    }

    fn path(self) -> &'static str {
        if self == Variant::LogiscoutFormat {
            "/ingest"
        } else {
            "/v1/logs"
        }
    }
}

/// What one child run measured; printed by the child as one JSON line on standard output.
#[derive(Debug, Serialize, Deserialize)]
struct RunResult {
    variant: String,
    logs: u64,
    /// Records the receiver decoded and counted.
    delivered: u64,
    /// Request-body bytes the receiver read (as on the wire: no compression).
    wire_bytes: u64,
    requests: u64,
    /// Bodies refused: compressed, undecodable, unknown content type.
    refused: u64,
    /// From just before the first record to the receiver's count of the last one.
    seconds: f64,
    /// From just before the first record to the return of the last `log::info!`.
    log_loop_seconds: f64,
    /// From just before the first record to the flush's return.
    flush_seconds: f64,
    /// logiscout's own drop count (`None` for OpenTelemetry, whose count is private).
    reported_dropped: Option<u64>,
    /// CPU seconds of every thread but the receiver's, over the run (`None` without schedstat).
    sender_cpu_seconds: Option<f64>,
    /// CPU seconds of the logging thread (the main thread).
    logging_cpu_seconds: Option<f64>,
    /// CPU seconds of the receiver's thread.
    receiver_cpu_seconds: Option<f64>,
    /// The first record as the receiver decoded it, for the report.
    first_record: String,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("--child") => child(&args[1..]),
        _ => parent(&args),
    };
    child::exit("otlp_compare", outcome)
}

// ---------------------------------------------------------------------------------------------------
// The parent: rounds of child runs, checks, medians, the table and the JSON.
// ---------------------------------------------------------------------------------------------------

fn parent(args: &[String]) -> Result<(), String> {
    let mut logs: u64 = 200_000;
    let mut rounds: usize = 3;
    let mut variants: Vec<Variant> = Variant::ALL.to_vec();
    let mut write = true;
    let run = child::parent_flags("otlp_compare", args, USAGE, |flag, value| {
        match flag {
            "--logs" => logs = parse_count(flag, value()?)?,
            "--rounds" => rounds = parse_count(flag, value()?)? as usize,
            "--variants" => {
                variants = value()?
                    .split(',')
                    .map(|s| Variant::parse(s.trim()))
                    .collect::<Result<_, _>>()?
            }
            "--no-write" => write = false,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if !run {
        return Ok(());
    }

    let mut results: HashMap<Variant, Vec<RunResult>> = HashMap::new();
    for round in 0..rounds {
        for k in 0..variants.len() {
            let variant = variants[(k + round) % variants.len()];
            let label = format!("round {}/{rounds}, {}", round + 1, variant.name());
            let r = run_child(variant, logs).map_err(|e| format!("{label}: {e}"))?;
            check(variant, &r).map_err(|e| format!("{label}: {e}"))?;
            let per_log = |cpu: Option<f64>, n: u64| {
                cpu.map_or("n/a".to_owned(), |c| {
                    format!("{:.0} ns/log", c * 1e9 / n.max(1) as f64)
                })
            };
            eprintln!(
                "otlp_compare: {label}: {} of {logs} delivered in {:.3} s = {:.0} logs/s, {:.1} bytes/log \
                 ({} requests); logging loop {:.3} s, flush returned at {:.3} s; CPU: sender {}, logging \
                 thread {}, receiver {}",
                r.delivered,
                r.seconds,
                rate(&r),
                bytes_per_log(&r),
                r.requests,
                r.log_loop_seconds,
                r.flush_seconds,
                per_log(r.sender_cpu_seconds, r.delivered),
                per_log(r.logging_cpu_seconds, r.logs),
                per_log(r.receiver_cpu_seconds, r.delivered),
            );
            results.entry(variant).or_default().push(r);
        }
    }

    let summaries: Vec<Summary> = variants
        .iter()
        .filter_map(|v| results.get(v).map(|runs| Summary::of(*v, runs)))
        .collect();
    for s in &summaries {
        eprintln!(
            "otlp_compare: first record of {}: {}",
            s.variant.name(),
            s.first_record
        );
    }
    let find = |v: Variant| summaries.iter().find(|s| s.variant == v);
    let baseline = find(Variant::OtelProtoQueue);
    let mut targets = Vec::new();
    if let Some(base) = baseline {
        for s in summaries.iter().filter(|s| s.variant.is_logiscout()) {
            let ratio = s.logs_per_s / base.logs_per_s;
            let fewer_bytes = s.bytes_per_log <= base.bytes_per_log;
            targets.push(json!({
                "variant": s.variant.name(),
                "vs": base.variant.name(),
                "logs_per_s_ratio": ratio,
                "bytes_per_log": s.bytes_per_log,
                "baseline_bytes_per_log": base.bytes_per_log,
                "rate_met": ratio >= 2.0,
                "bytes_met": fewer_bytes,
            }));
        }
    }

    println!("{}", table(&summaries, logs, rounds));
    let out = json!({
        "logs": logs,
        "rounds": rounds,
        "variants": summaries.iter().map(Summary::to_json).collect::<Vec<_>>(),
        "targets": targets,
    });
    if write {
        let path = logiscout_bench::write_result("otlp_compare.json", &out);
        eprintln!("otlp_compare: wrote {}", path.display());
    }
    Ok(())
}

/// One variant over its rounds.
#[derive(Debug)]
struct Summary {
    variant: Variant,
    rounds: Vec<f64>,
    logs_per_s: f64,
    bytes_per_log: f64,
    delivered: f64,
    dropped: f64,
    log_loop_ms: f64,
    logging_ns_per_log: Option<f64>,
    background_ns_per_log: Option<f64>,
    receiver_ns_per_log: Option<f64>,
    first_record: String,
}

impl Summary {
    fn of(variant: Variant, runs: &[RunResult]) -> Summary {
        let med = |f: &dyn Fn(&RunResult) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let med_opt = |f: &dyn Fn(&RunResult) -> Option<f64>| {
            let xs: Option<Vec<f64>> = runs.iter().map(f).collect();
            xs.map(|xs| median(&xs))
        };
        Summary {
            variant,
            rounds: runs.iter().map(rate).collect(),
            logs_per_s: med(&rate),
            bytes_per_log: med(&bytes_per_log),
            delivered: med(&|r| r.delivered as f64),
            dropped: med(&|r| (r.logs - r.delivered.min(r.logs)) as f64),
            log_loop_ms: med(&|r| r.log_loop_seconds * 1e3),
            logging_ns_per_log: med_opt(&|r| {
                Some(r.logging_cpu_seconds? * 1e9 / r.logs.max(1) as f64)
            }),
            background_ns_per_log: med_opt(&|r| {
                let background = r.sender_cpu_seconds? - r.logging_cpu_seconds?;
                Some(background * 1e9 / r.delivered.max(1) as f64)
            }),
            receiver_ns_per_log: med_opt(&|r| {
                Some(r.receiver_cpu_seconds? * 1e9 / r.delivered.max(1) as f64)
            }),
            first_record: runs
                .first()
                .map(|r| r.first_record.clone())
                .unwrap_or_default(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "variant": self.variant.name(),
            "label": self.variant.label(),
            "logs_per_s_rounds": self.rounds,
            "median_logs_per_s": self.logs_per_s,
            "bytes_per_log": self.bytes_per_log,
            "median_delivered": self.delivered,
            "median_dropped": self.dropped,
            "median_log_loop_ms": self.log_loop_ms,
            "logging_thread_cpu_ns_per_call": self.logging_ns_per_log,
            "background_threads_cpu_ns_per_delivered_log": self.background_ns_per_log,
            "receiver_cpu_ns_per_delivered_log": self.receiver_ns_per_log,
            "first_record": self.first_record,
        })
    }
}

fn table(summaries: &[Summary], logs: u64, rounds: usize) -> String {
    let find = |v: Variant| summaries.iter().find(|s| s.variant == v);
    let queue = find(Variant::OtelProtoQueue);
    let default = find(Variant::OtelProto);
    let json_queue = find(Variant::OtelJsonQueue);
    let ratio = |s: &Summary, base: Option<&Summary>| {
        base.map_or("—".to_owned(), |b| {
            format!("×{:.2}", s.logs_per_s / b.logs_per_s)
        })
    };
    let ns = |x: Option<f64>| {
        x.map_or("n/a".to_owned(), |x| {
            format!("{} ns", thousands(x.max(0.0).round() as u64))
        })
    };
    let mut out = format!(
        "{} records per run, {rounds} round{} (medians; the order of the variants rotated each round).\n\n\
         | variant | delivered logs/s | per round | bytes/log | delivered | drops | vs OTel http-proto, queue N | \
         vs OTel http-proto, defaults |\n\
         |---|---|---|---|---|---|---|---|\n",
        thousands(logs),
        if rounds == 1 { "" } else { "s" }
    );
    let mut cpu = String::from(
        "\n| variant | logging loop | logging thread CPU per call | background threads CPU per delivered log | \
         receiver CPU per delivered log |\n|---|---|---|---|---|\n",
    );
    for s in summaries {
        let mut vs_queue = ratio(s, queue);
        if s.variant == Variant::LogiscoutOtlpJson {
            if let Some(j) = json_queue {
                vs_queue.push_str(&format!(
                    " (vs OTel http-json: ×{:.2})",
                    s.logs_per_s / j.logs_per_s
                ));
            }
        }
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} B | {} | {} | {} | {} |\n",
            s.variant.label(),
            si(s.logs_per_s),
            s.rounds
                .iter()
                .map(|r| si(*r))
                .collect::<Vec<_>>()
                .join(", "),
            s.bytes_per_log,
            thousands(s.delivered.round() as u64),
            thousands(s.dropped.round() as u64),
            if s.variant == Variant::OtelProtoQueue {
                "×1.00".to_owned()
            } else {
                vs_queue
            },
            if s.variant == Variant::OtelProto {
                "×1.00".to_owned()
            } else {
                ratio(s, default)
            },
        ));
        cpu.push_str(&format!(
            "| {} | {:.0} ms | {} | {} | {} |\n",
            s.variant.label(),
            s.log_loop_ms,
            ns(s.logging_ns_per_log),
            ns(s.background_ns_per_log),
            ns(s.receiver_ns_per_log),
        ));
    }
    out + &cpu
}

fn rate(r: &RunResult) -> f64 {
    r.delivered as f64 / r.seconds
}

fn bytes_per_log(r: &RunResult) -> f64 {
    r.wire_bytes as f64 / r.delivered.max(1) as f64
}

/// `1.23 M/s`, `456 k/s`.
fn si(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M/s", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} k/s", x / 1e3)
    } else {
        format!("{x:.0}/s")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs this executable as `--child VARIANT LOGS` with no `OTEL_*`, `LOGISCOUT_*` or `RUST_LOG` in its
/// environment, and parses the JSON line it prints.
fn run_child(variant: Variant, logs: u64) -> Result<RunResult, String> {
    let args = [
        "--child".to_owned(),
        variant.name().to_owned(),
        logs.to_string(),
    ];
    child::run_self(&args, |name| {
        name.starts_with("OTEL_") || name.starts_with("LOGISCOUT_") || name == "RUST_LOG"
    })
}

/// The run's checks (the child makes them too, so a child run on its own says what went wrong).
fn check(variant: Variant, r: &RunResult) -> Result<(), String> {
    let mut problems = Vec::new();
    if r.refused != 0 {
        problems.push(format!(
            "the receiver refused {} bodies (compressed or undecodable)",
            r.refused
        ));
    }
    if r.delivered > r.logs {
        problems.push(format!(
            "{} records arrived for {} logged: some twice",
            r.delivered, r.logs
        ));
    }
    if r.delivered < r.logs && !variant.may_drop() {
        problems.push(format!(
            "only {} of {} records arrived",
            r.delivered, r.logs
        ));
    }
    if r.delivered == 0 {
        problems.push("nothing arrived".to_owned());
    }
    if let Some(dropped) = r.reported_dropped {
        if dropped != r.logs - r.delivered.min(r.logs) {
            problems.push(format!(
                "logiscout counted {dropped} dropped, the receiver misses {}",
                r.logs - r.delivered.min(r.logs)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------------
// A child: the receiver, one logger, one measured run.
// ---------------------------------------------------------------------------------------------------

fn child(args: &[String]) -> Result<(), String> {
    let [variant, logs] = args else {
        return Err(format!("--child takes VARIANT LOGS, not {args:?}"));
    };
    let variant = Variant::parse(variant)?;
    let logs = parse_count("LOGS", logs)?;
    let receiver = Receiver::start()?;
    let url = format!("http://{}{}", receiver.addr, variant.path());

    // The logger, before the clock starts.
    let mut otel = None;
    let mut guard = None;
    if variant.is_logiscout() {
        // Room for the whole burst: see the module documentation.
        let mut config = child::burst_config("otlp-compare", url, logs)?.gzip(false);
        config = match variant {
            Variant::LogiscoutOtlp => config.protocol(logiscout::Protocol::Otlp),
            // OpenTelemetry's batch size, to tell per-request costs from per-record ones.
            Variant::LogiscoutOtlp512 => config
                .protocol(logiscout::Protocol::Otlp)
                .max_batch_logs(512),
            Variant::LogiscoutOtlpJson => config.protocol(logiscout::Protocol::OtlpJson),
            _ => config
                .protocol(logiscout::Protocol::LogiScout)
                .api_token("lgs_bench"),
        };
        guard = Some(logiscout::init(config).map_err(|e| format!("logiscout::init failed: {e}"))?);
    } else {
        otel = Some(otel_init(variant, &url, logs)?);
    }

    let cpu_before = ThreadCpu::now();
    let start = Instant::now();
    child::log_burst(logs);
    let log_loop = start.elapsed();
    let mut reported_dropped = None;
    if let Some(provider) = &otel {
        provider
            .force_flush()
            .map_err(|e| format!("SdkLoggerProvider::force_flush failed: {e}"))?;
    } else {
        let report = logiscout::flush(FLUSH_TIMEOUT);
        if !report.complete {
            return Err(format!("logiscout::flush did not finish: {report:?}"));
        }
        reported_dropped = Some(report.stats.logs_dropped);
    }
    let flushed = start.elapsed();
    // Each answer is sent after the receiver counted its body, so the count is final once the flush has
    // returned; wait for it anyway (OpenTelemetry's default run never reaches N: it dropped the rest).
    receiver.wait_until(Duration::from_secs(2), |c| c.records >= logs);
    let cpu_after = ThreadCpu::now();
    let counts = receiver.counts();

    if let Some(provider) = otel {
        provider
            .shutdown()
            .map_err(|e| format!("SdkLoggerProvider::shutdown failed: {e}"))?;
    }
    if let Some(guard) = guard {
        guard.shutdown(Duration::from_secs(10));
    }

    let receiver_tid = receiver.tid();
    let cpu = |keep: &dyn Fn(&str) -> bool| {
        ThreadCpu::seconds(cpu_before.as_ref(), cpu_after.as_ref(), |tid, _| keep(tid))
    };
    let main_tid = ThreadCpu::main_tid();
    let end = counts.last.unwrap_or(start);
    let result = RunResult {
        variant: variant.name().to_owned(),
        logs,
        delivered: counts.records,
        wire_bytes: counts.bytes,
        requests: counts.requests,
        refused: counts.refused,
        seconds: end.saturating_duration_since(start).as_secs_f64(),
        log_loop_seconds: log_loop.as_secs_f64(),
        flush_seconds: flushed.as_secs_f64(),
        reported_dropped,
        sender_cpu_seconds: receiver_tid
            .as_ref()
            .and_then(|rt| cpu(&|tid| tid != rt.as_str())),
        logging_cpu_seconds: cpu(&|tid| tid == main_tid),
        receiver_cpu_seconds: receiver_tid
            .as_ref()
            .and_then(|rt| cpu(&|tid| tid == rt.as_str())),
        first_record: counts.first.unwrap_or_default(),
    };
    check(variant, &result)?;
    println!(
        "{}",
        serde_json::to_string(&result).map_err(|e| format!("cannot encode the result: {e}"))?
    );
    Ok(())
}

/// OpenTelemetry's pipeline: the `log` bridge, the SDK's batch processor, the OTLP/HTTP exporter.
fn otel_init(
    variant: Variant,
    url: &str,
    logs: u64,
) -> Result<opentelemetry_sdk::logs::SdkLoggerProvider, String> {
    use opentelemetry_appender_log::OpenTelemetryLogBridge;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
    use opentelemetry_sdk::Resource;

    let protocol = if variant == Variant::OtelJsonQueue {
        Protocol::HttpJson
    } else {
        Protocol::HttpBinary
    };
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(url)
        .build()
        .map_err(|e| format!("the OTLP exporter did not build: {e}"))?;
    // Defaults: queue 2,048, batch 512, schedule delay 1 s, export timeout 30 s.
    let mut batch = BatchConfigBuilder::default();
    if variant != Variant::OtelProto {
        let queue = usize::try_from(logs).map_err(|_| "too many logs".to_owned())?;
        batch = batch.with_max_queue_size(queue.max(2_048));
    }
    let processor = BatchLogProcessor::builder(exporter)
        .with_batch_config(batch.build())
        .build();
    let provider = SdkLoggerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("otlp-compare")
                .build(),
        )
        .with_log_processor(processor)
        .build();
    log::set_boxed_logger(Box::new(OpenTelemetryLogBridge::new(&provider)))
        .map_err(|e| format!("cannot install the OpenTelemetry log bridge: {e}"))?;
    log::set_max_level(log::LevelFilter::Info);
    Ok(provider)
}

// ---------------------------------------------------------------------------------------------------
// The receiver: decodes, counts records and body bytes, notes when.
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Counts {
    records: u64,
    bytes: u64,
    requests: u64,
    refused: u64,
    /// When `records` last grew.
    last: Option<Instant>,
    first: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    counts: Mutex<Counts>,
    tid: Mutex<Option<String>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, status: StatusCode, why: String) -> Response {
        let mut c = self.lock();
        c.requests += 1;
        c.refused += 1;
        if c.refused == 1 {
            eprintln!("otlp_compare: receiver: refused ({status}): {why}");
        }
        (status, why).into_response()
    }

    fn count(&self, records: u64, bytes: usize, first: impl FnOnce() -> String) {
        let mut c = self.lock();
        c.requests += 1;
        c.bytes += bytes as u64;
        if records > 0 {
            c.records += records;
            c.last = Some(Instant::now());
            if c.first.is_none() {
                c.first = Some(first());
            }
        }
    }
}

#[derive(Debug)]
struct Receiver {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    fn start() -> Result<Receiver, String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("the receiver cannot bind 127.0.0.1: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the receiver has no address: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("the receiver's socket: {e}"))?;
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/v1/logs", post(otlp))
            .route("/ingest", post(logiscout_format))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(shared.clone());
        let thread_shared = shared.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("receiver".into())
            .spawn(move || {
                // "<pid>/task/<tid>": this thread's id, to tell its CPU time from the sender's.
                let tid = std::fs::read_link("/proc/thread-self")
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
                *thread_shared.tid.lock().unwrap_or_else(|p| p.into_inner()) = tid;
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|rt| {
                        rt.block_on(async {
                            let listener = tokio::net::TcpListener::from_std(listener)
                                .map_err(|e| e.to_string())?;
                            let _ = ready_tx.send(());
                            axum::serve(listener, router)
                                .await
                                .map_err(|e| e.to_string())
                        })
                    });
                if let Err(e) = served {
                    eprintln!("otlp_compare: the receiver stopped: {e}");
                }
            })
            .map_err(|e| format!("cannot start the receiver's thread: {e}"))?;
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "the receiver did not start".to_owned())?;
        Ok(Receiver { addr, shared })
    }

    fn counts(&self) -> Counts {
        self.shared.lock().clone()
    }

    fn tid(&self) -> Option<String> {
        self.shared
            .tid
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn wait_until(&self, timeout: Duration, cond: impl Fn(&Counts) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(&self.shared.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A body with a `Content-Encoding` other than `identity`: the comparison is of uncompressed bytes.
fn encoded(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .filter(|v| v != "identity")
}

async fn otlp(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(encoding) = encoded(&headers) {
        return shared.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {encoding}"),
        );
    }
    let format = match Format::of_headers(&headers) {
        Ok(f) => f,
        Err(content_type) => {
            return shared.refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Type {content_type:?}"),
            )
        }
    };
    let request = match format.decode(&body) {
        Ok(r) => r,
        Err(e) => return shared.refuse(StatusCode::BAD_REQUEST, format!("undecodable: {e}")),
    };
    shared.count(record_count(&request) as u64, body.len(), || {
        describe_otlp(&request)
    });
    format.success_response()
}

async fn logiscout_format(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(encoding) = encoded(&headers) {
        return shared.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Encoding {encoding}"),
        );
    }
    let batch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return shared.refuse(StatusCode::BAD_REQUEST, format!("not JSON: {e}")),
    };
    let logs = || {
        batch["payloads"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["logs"].as_array().into_iter().flatten())
    };
    shared.count(logs().count() as u64, body.len(), || {
        logs().next().map(Value::to_string).unwrap_or_default()
    });
    let mut response = r#"{"status":"accepted"}"#.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The first record of a request: its fields and attributes, as decoded.
fn describe_otlp(request: &ExportLogsServiceRequest) -> String {
    let scope_logs = request.resource_logs.iter().flat_map(|r| &r.scope_logs);
    let Some((scope, record)) = scope_logs
        .flat_map(|s| s.log_records.iter().map(move |r| (&s.scope, r)))
        .next()
    else {
        return String::new();
    };
    let value = |v: Option<&OtlpValue>| match v {
        Some(OtlpValue::StringValue(s)) => format!("{s:?}"),
        Some(OtlpValue::IntValue(i)) => format!("int {i}"),
        Some(OtlpValue::DoubleValue(d)) => format!("double {d}"),
        Some(OtlpValue::BoolValue(b)) => format!("bool {b}"),
        Some(other) => format!("{other:?}"),
        None => "none".to_owned(),
    };
    // Protobuf sizes: a field of a message is its tag, its length and its bytes.
    let field = |len: usize| 1 + prost::length_delimiter_len(len) + len;
    let attributes: Vec<String> = record
        .attributes
        .iter()
        .map(|kv| {
            format!(
                "{}={} ({} B)",
                kv.key,
                value(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                field(kv.encoded_len())
            )
        })
        .collect();
    let resource: Vec<&str> = request
        .resource_logs
        .iter()
        .filter_map(|r| r.resource.as_ref())
        .flat_map(|r| r.attributes.iter().map(|kv| kv.key.as_str()))
        .collect();
    format!(
        "{} B as protobuf; scope {:?}; time_unix_nano {}, observed {}, severity {} {:?}, body {}, \
         event_name {:?}, trace_id {} B, attributes [{}]; resource attributes {resource:?}",
        field(record.encoded_len()),
        scope.as_ref().map(|s| s.name.as_str()).unwrap_or_default(),
        if record.time_unix_nano > 0 {
            "set"
        } else {
            "0"
        },
        if record.observed_time_unix_nano > 0 {
            "set"
        } else {
            "0"
        },
        record.severity_number,
        record.severity_text,
        value(record.body.as_ref().and_then(|v| v.value.as_ref())),
        record.event_name,
        record.trace_id.len(),
        attributes.join(", "),
    )
}
