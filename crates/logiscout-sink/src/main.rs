//! `logiscout-sink`: a local stand-in for the LogiScout ingest endpoint. See `--help`.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use logiscout_sink::{Faults, Sink, SinkConfig, DEFAULT_DEDUP_WINDOW, DEFAULT_MAX_BODY_BYTES};

const AFTER_HELP: &str = "\
Endpoints:
  POST /ingest (or /)  a batch in the wire format, plain or `Content-Encoding: gzip`
  POST /v1/logs        with --otlp (instead of /ingest): OTLP/HTTP protobuf or JSON, plain or gzip
  GET  /stats          {\"batches\":N,\"logs\":N,\"requests\":N,\"payloads\":N,\"duplicates\":N,
                        \"rejected\":N,\"unauthorized\":N,\"faults\":N,\"dropped_logs\":N,\"received\":N}

Answers: 200 stored (or a duplicate: a batch ID among the last --dedup-window stored, answered 200 and
not stored again); 400 not JSON, not matching the wire-format schema, or totals that disagree with the
payloads (the reason is in the body); 401 missing or wrong token; 413 body too large; 415 unknown
Content-Encoding.

`requests` counts completed requests: payloads with a `request` object that carry its end (`endedAt` or
`statusCode`), which only the last piece of a request split across batches does. Memory stays flat: no
batches are kept, only the counters and the last --dedup-window batch IDs (with --hang, each hung request
also holds its connection until the sink stops).

Faults apply to ingest requests only. A faulted request hangs (--hang), has its connection closed
(--close), or is answered with a --fail-status (503 when only --fail-rate is given). Without --fail-rate
every ingest request is faulted. --latency-ms delays every ingest answer, faulted or not.

Examples:
  logiscout-sink --token lgs_dev --out batches.jsonl
  logiscout-sink --fail-status 503 --retry-after 2           # always 503, Retry-After: 2
  logiscout-sink --fail-rate 0.3 --fail-status 500,502,503   # 30% fail, status picked at random
  logiscout-sink --latency-ms 200 --fail-rate 0.1 --close    # slow, and 10% of connections cut
  curl -s http://127.0.0.1:4318/stats";

/// A local stand-in for the LogiScout ingest endpoint, for development and tests.
///
/// Validates each batch against the wire format, drops duplicate batch IDs, appends what it accepts to
/// a JSON-lines file and prints one line per batch. Fault flags make it misbehave on purpose, to test a
/// client's retries.
#[derive(Debug, Parser)]
#[command(name = "logiscout-sink", version, after_help = AFTER_HELP)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    listen: SocketAddr,

    /// Require `Authorization: Bearer TOKEN` on ingest requests (401 otherwise). Never printed.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,

    /// Append each accepted batch to FILE, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Print no line per batch (only the start and final lines).
    #[arg(long, short)]
    quiet: bool,

    /// Refuse bodies larger than BYTES, on the wire or after gunzip, with 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,

    /// Remember the last N stored batch IDs to answer a retried batch as a duplicate; a retry arriving
    /// after N newer batches is stored again. 0 stores every batch. About 100 bytes per ID.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEDUP_WINDOW)]
    dedup_window: usize,

    /// Answer faulted ingest requests with CODE (200-599); a comma-separated list picks one at random.
    #[arg(
        long,
        value_name = "CODE",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u16).range(200..=599),
        help_heading = "Fault injection"
    )]
    fail_status: Vec<u16>,

    /// Fault only this fraction of ingest requests, chosen at random (0.0-1.0).
    #[arg(long, value_name = "RATE", value_parser = parse_rate, help_heading = "Fault injection")]
    fail_rate: Option<f64>,

    /// Add `Retry-After: SECONDS` to fault answers (needs --fail-status or --fail-rate).
    #[arg(long, value_name = "SECONDS", help_heading = "Fault injection")]
    retry_after: Option<u64>,

    /// Wait MS milliseconds before answering each ingest request.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        help_heading = "Fault injection"
    )]
    latency_ms: u64,

    /// Never answer faulted ingest requests (the client's timeout has to fire); each keeps its connection
    /// open until the sink stops.
    #[arg(long, conflicts_with = "close", help_heading = "Fault injection")]
    hang: bool,

    /// Close the TCP connection of faulted ingest requests without answering.
    #[arg(long, help_heading = "Fault injection")]
    close: bool,

    /// Seed the random choices of --fail-rate and --fail-status, for reproducible runs.
    #[arg(long, value_name = "N", help_heading = "Fault injection")]
    seed: Option<u64>,

    /// Be an OTLP/HTTP logs receiver instead: `POST /v1/logs` (protobuf or JSON, decoded with the official
    /// opentelemetry-proto types), one line per batch, `/stats`. Takes --listen, --token, --quiet and
    /// --max-body-bytes; no fault injection, no --out.
    #[arg(long, conflicts_with_all = ["out", "fail_status", "fail_rate", "hang", "close"])]
    otlp: bool,
}

/// What a start returned, or its failure said on stderr and the exit code to return.
fn started<T>(result: Result<T, impl std::fmt::Display>) -> Result<T, ExitCode> {
    result.map_err(|e| {
        eprintln!("logiscout-sink: {e}");
        ExitCode::FAILURE
    })
}

/// `--otlp`: the OTLP receiver until Ctrl-C.
fn run_otlp(args: &Args) -> ExitCode {
    use logiscout_sink::otlp::{OtlpSink, OtlpSinkConfig};
    let sink = match started(OtlpSink::start(OtlpSinkConfig {
        listen: args.listen,
        token: args.token.clone(),
        quiet: args.quiet,
        max_body_bytes: args.max_body_bytes,
        keep_requests: false,
    })) {
        Ok(sink) => sink,
        Err(code) => return code,
    };
    println!("logiscout-sink (OTLP) listening on {}", sink.url());
    println!("  stats:   http://{}/stats", sink.addr());
    println!(
        "  token:   {}",
        if args.token.is_some() {
            "required"
        } else {
            "not checked"
        }
    );
    println!("Ctrl-C to stop.");
    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(tokio::signal::ctrl_c()));
    if let Err(e) | Ok(Err(e)) = waited {
        eprintln!("logiscout-sink: cannot wait for Ctrl-C: {e}");
    }
    let stats = sink.shutdown();
    println!(
        "stopped: {}",
        serde_json::to_string(&stats).unwrap_or_default()
    );
    ExitCode::SUCCESS
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number between 0 and 1"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

fn describe(faults: &Faults) -> String {
    let mut parts = Vec::new();
    if faults.any() {
        let what = if faults.hang {
            "hang".to_owned()
        } else if faults.close {
            "close the connection".to_owned()
        } else if faults.statuses.is_empty() {
            "answer 503".to_owned()
        } else {
            let codes: Vec<String> = faults.statuses.iter().map(u16::to_string).collect();
            format!("answer {}", codes.join(" or "))
        };
        let share = match faults.rate {
            Some(rate) => format!("{:.0}% of ingest requests", rate * 100.0),
            None => "every ingest request".to_owned(),
        };
        let mut part = format!("{what} for {share}");
        if let Some(s) = faults.retry_after {
            part.push_str(&format!(" with Retry-After {s}"));
        }
        parts.push(part);
    }
    if !faults.latency.is_zero() {
        parts.push(format!("{} ms latency", faults.latency.as_millis()));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.otlp {
        return run_otlp(&args);
    }
    let faults = Faults {
        statuses: args.fail_status,
        rate: args.fail_rate,
        retry_after: args.retry_after,
        latency: Duration::from_millis(args.latency_ms),
        hang: args.hang,
        close: args.close,
        seed: args.seed,
    };
    if let Err(reason) = faults.validate() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, reason)
            .exit();
    }
    let fault_line = describe(&faults);
    let config = SinkConfig {
        listen: args.listen,
        token: args.token,
        out: args.out,
        faults,
        quiet: args.quiet,
        max_body_bytes: args.max_body_bytes,
        // A long-running process: the file is the record. Memory stays flat: no batches in memory, nothing
        // per correlation ID, at most `dedup_window` batch IDs.
        keep_batches: false,
        dedup_window: args.dedup_window,
    };
    let token_line = if config.token.is_some() {
        "required"
    } else {
        "not checked"
    };
    let out_line = config
        .out
        .as_ref()
        .map_or_else(|| "not written".to_owned(), |p| p.display().to_string());
    let sink = match started(Sink::start(config)) {
        Ok(sink) => sink,
        Err(code) => return code,
    };
    println!("logiscout-sink listening on {}", sink.url());
    println!("  stats:   http://{}/stats", sink.addr());
    println!("  token:   {token_line}");
    println!("  batches: {out_line}");
    println!("  faults:  {fault_line}");
    println!("Ctrl-C to stop.");

    let runtime = match started(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    ) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    if let Err(e) = runtime.block_on(tokio::signal::ctrl_c()) {
        eprintln!("logiscout-sink: cannot wait for Ctrl-C: {e}");
    }
    let stats = sink.shutdown();
    println!(
        "stopped: {}",
        serde_json::to_string(&stats).unwrap_or_default()
    );
    ExitCode::SUCCESS
}
