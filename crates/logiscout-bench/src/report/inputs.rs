//! The measurement files: what each holds, and loading them (the only I/O besides the machine).

use super::*;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Criterion groups written by `cargo bench -p logiscout-bench`.
pub const HOT_1: &str = "hot_path_1_thread";
/// Two threads logging at once: wall time per call.
pub const HOT_2: &str = "hot_path_2_threads";
/// `debug!` under an `info` filter.
pub const DISABLED: &str = "disabled_level";
/// The loggers of the hot-path groups, in the order the issue lists them.
pub const LOGGERS: [&str; 7] = [
    "logiscout",
    "env_logger",
    "tracing_json_nonblocking",
    "opentelemetry_batch",
    "ftlog",
    "facade_floor",
    "floor_queue",
];
/// Criterion groups of the in-process middleware bench (`cargo bench -p logiscout-tower --bench middleware`).
pub const MIDDLEWARE_GROUPS: [&str; 3] = ["new_id", "incoming_id", "logger_dev_one_info"];

/// Commands that produce each input, shown when it is missing.
pub const CMD_CRITERION: &str = "cargo bench -p logiscout-bench";
/// See [`CMD_CRITERION`].
pub const CMD_E2E: &str = "cargo run --release -p logiscout-bench --bin e2e";
/// See [`CMD_CRITERION`].
pub const CMD_HTTP: &str = "scripts/bench-http.sh";
/// See [`CMD_CRITERION`].
pub const CMD_PYTHON: &str = "scripts/bench-python.sh";
/// See [`CMD_CRITERION`].
pub const CMD_RSS: &str = "cargo run --release -p logiscout-bench --bin rss";

/// The generated sections, in document order.
pub const SECTION_NAMES: [&str; 9] = [
    "machine",
    "hot_path",
    "two_threads",
    "disabled",
    "e2e",
    "middleware_http",
    "python",
    "memory",
    "targets",
];

/// One input file: absent, present but unreadable, or parsed.
#[derive(Debug, Clone)]
pub enum Input<T> {
    /// The file does not exist.
    Missing,
    /// The file exists but could not be read or parsed; the message says why.
    Unreadable(String),
    /// The parsed file.
    Present(Loaded<T>),
}

impl<T> Input<T> {
    /// The parsed value, if any.
    pub fn get(&self) -> Option<&Loaded<T>> {
        match self {
            Input::Present(l) => Some(l),
            _ => None,
        }
    }
}

/// A parsed input with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    /// The parsed content.
    pub value: T,
    /// Path shown in the source note (relative to the target directory's parent when possible).
    pub source: String,
    /// Modification time, seconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// A criterion estimate: the median and its 95 % confidence interval, in ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// `median.point_estimate`.
    pub median: f64,
    /// `median.confidence_interval.lower_bound`.
    pub lower: f64,
    /// `median.confidence_interval.upper_bound`.
    pub upper: f64,
}

impl Estimate {
    /// An estimate with the given median and interval.
    pub fn new(median: f64, lower: f64, upper: f64) -> Self {
        Self {
            median,
            lower,
            upper,
        }
    }
}

/// One criterion benchmark.
#[derive(Debug, Clone)]
pub struct Bench {
    /// Time per iteration.
    pub est: Estimate,
    /// Elements per iteration, from `benchmark.json`'s `throughput.Elements`.
    pub elements: Option<f64>,
    /// Modification time of `estimates.json`, seconds since the Unix epoch.
    pub modified: Option<u64>,
}

/// Everything found under `target/criterion`: group → function → bench.
#[derive(Debug, Clone, Default)]
pub struct Criterion {
    /// Group directory name → function directory name → bench.
    pub groups: BTreeMap<String, BTreeMap<String, Bench>>,
    /// Files that exist but could not be read.
    pub errors: Vec<String>,
}

impl Criterion {
    /// The benches of `group`, if the group has at least one.
    pub fn group(&self, group: &str) -> Option<&BTreeMap<String, Bench>> {
        self.groups.get(group).filter(|g| !g.is_empty())
    }

    /// One bench.
    pub fn bench(&self, group: &str, function: &str) -> Option<&Bench> {
        self.groups.get(group)?.get(function)
    }

    /// Adds a bench (used by the loader and by tests).
    pub fn insert(&mut self, group: &str, function: &str, est: Estimate) {
        self.groups.entry(group.to_string()).or_default().insert(
            function.to_string(),
            Bench {
                est,
                elements: None,
                modified: None,
            },
        );
    }

    pub(super) fn newest(&self, group: &str) -> Option<u64> {
        self.groups
            .get(group)?
            .values()
            .filter_map(|b| b.modified)
            .max()
    }
}

/// `target/bench-results/e2e.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct E2e {
    /// What served the ingest endpoint.
    pub server: String,
    /// One run per latency × gzip setting.
    pub runs: Vec<E2eRun>,
    /// Optional note on what limited the rate.
    pub bottleneck_note: Option<String>,
}

/// One end-to-end run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct E2eRun {
    /// Latency the server added to each answer.
    pub latency_ms: f64,
    /// Whether batches were gzip-compressed.
    pub gzip: bool,
    /// Logs per repeat.
    pub logs: f64,
    /// Number of repeats.
    pub repeats: f64,
    /// Seconds per repeat (log + delivery).
    pub seconds: Vec<f64>,
    /// Median delivered logs per second.
    pub median_logs_per_s: Option<f64>,
    /// Bytes on the wire (request bodies) for one repeat.
    pub wire_bytes: f64,
    /// `wire_bytes / logs`.
    pub bytes_per_log: Option<f64>,
}

impl E2eRun {
    pub(super) fn logs_per_s(&self) -> Option<f64> {
        self.median_logs_per_s.or_else(|| {
            let s = median(&self.seconds)?;
            (s > 0.0 && self.logs > 0.0).then(|| self.logs / s)
        })
    }

    pub(super) fn bytes_per_log(&self) -> Option<f64> {
        self.bytes_per_log.or_else(|| {
            (self.logs > 0.0 && self.wire_bytes > 0.0).then(|| self.wire_bytes / self.logs)
        })
    }
}

/// A JSON value that may be a string or a number (CPU ids).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StrOrNum {
    /// `"0"`.
    Str(String),
    /// `0`.
    Num(f64),
}

impl Default for StrOrNum {
    fn default() -> Self {
        StrOrNum::Str(String::new())
    }
}

impl std::fmt::Display for StrOrNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrOrNum::Str(s) => f.write_str(s),
            StrOrNum::Num(n) => write!(f, "{n}"),
        }
    }
}

/// `target/bench-results/http.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Http {
    /// The load generator.
    pub tool: String,
    /// Seconds per round.
    pub duration_s: f64,
    /// Open connections.
    pub connections: f64,
    /// Load generator threads.
    pub threads: f64,
    /// Rounds per variant.
    pub rounds: f64,
    /// CPU the server was pinned to.
    pub server_cpu: StrOrNum,
    /// CPU the load generator was pinned to.
    pub load_cpu: StrOrNum,
    /// One entry per framework × variant; the first of each framework is its baseline.
    pub results: Vec<HttpResult>,
}

/// One HTTP variant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HttpResult {
    /// `axum` or `actix`.
    pub framework: String,
    /// `no layer`, `CorrelationLayer`, ...
    pub variant: String,
    /// Requests per second of each round.
    pub requests_per_s: Vec<f64>,
    /// Median of the rounds.
    pub median_requests_per_s: Option<f64>,
    /// Median latency, µs.
    pub p50_latency_us: Option<f64>,
    /// 99th percentile latency, µs.
    pub p99_latency_us: Option<f64>,
    /// The server's CPU time per request in each round, µs.
    pub cpu_us_per_request: Vec<f64>,
    /// Median of the rounds.
    pub median_cpu_us_per_request: Option<f64>,
}

impl HttpResult {
    pub(super) fn rps(&self) -> Option<f64> {
        self.median_requests_per_s
            .or_else(|| median(&self.requests_per_s))
    }

    pub(super) fn cpu(&self) -> Option<f64> {
        self.median_cpu_us_per_request
            .or_else(|| median(&self.cpu_us_per_request))
            .filter(|c| c.is_finite() && *c > 0.0)
    }
}

/// The throughput a layer costs, in %, from the server's CPU time per request (the server saturates one
/// core, so throughput is 1 / CPU per request): `1 - base / variant`.
pub(super) fn cpu_cost_pct(base_cpu: f64, variant_cpu: f64) -> f64 {
    (1.0 - base_cpu / variant_cpu) * 100.0
}

/// `target/bench-results/python.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Python {
    /// The Python package measured, e.g. `logiscout-logger 1.0.1`.
    pub client: String,
    /// The interpreter version.
    pub python: String,
    /// Calls per repeat.
    pub calls_per_repeat: f64,
    /// Repeats.
    pub repeats: f64,
    /// ns per call of each repeat.
    pub ns_per_call: Vec<f64>,
    /// Median of the repeats.
    pub median_ns_per_call: Option<f64>,
    /// Logs the client was asked to send.
    pub logged: f64,
    /// Logs the server received.
    pub delivered: f64,
    /// What happened to console output.
    pub console: String,
    /// Where the client's hard-coded URL was pointed.
    pub url_patched_to: String,
}

impl Python {
    pub(super) fn ns(&self) -> Option<f64> {
        self.median_ns_per_call
            .or_else(|| median(&self.ns_per_call))
    }
}

/// `target/bench-results/rss.json`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Rss {
    /// One entry per configuration.
    pub runs: Vec<RssRun>,
}

/// One memory run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RssRun {
    /// Records logged.
    pub records: f64,
    /// `max_buffer_bytes` setting: the cap.
    pub max_buffer_bytes: f64,
    /// `max_queue_logs` setting.
    pub max_queue_logs: f64,
    /// Allowed growth beyond the cap (allocator, runtime, threads).
    pub constant_allowance_bytes: f64,
    /// RSS before logging.
    pub baseline_rss_bytes: f64,
    /// Highest RSS seen.
    pub peak_rss_bytes: f64,
    /// `peak - baseline`.
    pub growth_bytes: f64,
    /// The measurement's own verdict.
    pub within_cap: Option<bool>,
    /// Logs accepted.
    pub logs_enqueued: f64,
    /// Logs dropped.
    pub logs_dropped: f64,
    /// Duration of the run.
    pub seconds: f64,
}

impl RssRun {
    pub(super) fn limit(&self) -> f64 {
        self.max_buffer_bytes + self.constant_allowance_bytes
    }
    pub(super) fn within(&self) -> bool {
        self.growth_bytes <= self.limit()
    }
}

/// All inputs of one report.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// `target/criterion`.
    pub criterion: Criterion,
    /// `bench-results/e2e.json`.
    pub e2e: Input<E2e>,
    /// `bench-results/http.json`.
    pub http: Input<Http>,
    /// `bench-results/python.json`.
    pub python: Input<Python>,
    /// `bench-results/rss.json`.
    pub rss: Input<Rss>,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            criterion: Criterion::default(),
            e2e: Input::Missing,
            http: Input::Missing,
            python: Input::Missing,
            rss: Input::Missing,
        }
    }
}

impl Inputs {
    /// Newest modification time over every input read.
    pub fn newest(&self) -> Option<u64> {
        let crit = self
            .criterion
            .groups
            .values()
            .flat_map(|g| g.values())
            .filter_map(|b| b.modified);
        crit.chain(self.e2e.get().and_then(|l| l.modified))
            .chain(self.http.get().and_then(|l| l.modified))
            .chain(self.python.get().and_then(|l| l.modified))
            .chain(self.rss.get().and_then(|l| l.modified))
            .max()
    }

    /// Problems with files that exist but could not be read.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.criterion.errors.clone();
        for (name, unreadable) in [
            ("e2e.json", unreadable(&self.e2e)),
            ("http.json", unreadable(&self.http)),
            ("python.json", unreadable(&self.python)),
            ("rss.json", unreadable(&self.rss)),
        ] {
            if let Some(msg) = unreadable {
                out.push(format!("{name}: {msg}"));
            }
        }
        out
    }
}

pub(super) fn unreadable<T>(i: &Input<T>) -> Option<&str> {
    match i {
        Input::Unreadable(m) => Some(m),
        _ => None,
    }
}

pub(super) fn mtime(path: &Path) -> Option<u64> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Reads one JSON input; `shown` is the path printed in the report.
pub fn load_json<T: DeserializeOwned>(path: &Path, shown: &str) -> Input<T> {
    if !path.exists() {
        return Input::Missing;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Input::Unreadable(format!("cannot read {shown}: {e}")),
    };
    match serde_json::from_str(&text) {
        Ok(value) => Input::Present(Loaded {
            value,
            source: shown.to_string(),
            modified: mtime(path),
        }),
        Err(e) => Input::Unreadable(format!("cannot parse {shown}: {e}")),
    }
}

#[derive(Deserialize)]
pub(super) struct RawEstimates {
    pub(super) median: RawStat,
}
#[derive(Deserialize)]
pub(super) struct RawStat {
    pub(super) point_estimate: f64,
    pub(super) confidence_interval: RawCi,
}
#[derive(Deserialize)]
pub(super) struct RawCi {
    pub(super) lower_bound: f64,
    pub(super) upper_bound: f64,
}

/// Reads every `<group>/<function>/new/estimates.json` under `dir` (normally `target/criterion`).
pub fn load_criterion(dir: &Path) -> Criterion {
    let mut out = Criterion::default();
    let Ok(groups) = std::fs::read_dir(dir) else {
        return out;
    };
    for group in groups.flatten() {
        let gpath = group.path();
        let gname = group.file_name().to_string_lossy().into_owned();
        if !gpath.is_dir() || gname == "report" {
            continue;
        }
        let Ok(functions) = std::fs::read_dir(&gpath) else {
            continue;
        };
        for function in functions.flatten() {
            let fname = function.file_name().to_string_lossy().into_owned();
            let new = function.path().join("new");
            let est_path = new.join("estimates.json");
            if !est_path.is_file() {
                continue;
            }
            let parsed = std::fs::read_to_string(&est_path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<RawEstimates>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(raw) => {
                    let elements = std::fs::read_to_string(new.join("benchmark.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                        .and_then(|v| v.pointer("/throughput/Elements")?.as_f64());
                    let m = raw.median;
                    out.groups.entry(gname.clone()).or_default().insert(
                        fname,
                        Bench {
                            est: Estimate::new(
                                m.point_estimate,
                                m.confidence_interval.lower_bound,
                                m.confidence_interval.upper_bound,
                            ),
                            elements,
                            modified: mtime(&est_path),
                        },
                    );
                }
                Err(e) => out
                    .errors
                    .push(format!("cannot read {}: {e}", est_path.display())),
            }
        }
    }
    out
}

/// Reads all inputs from a target directory (the one holding `criterion/` and `bench-results/`).
pub fn load_inputs(target: &Path) -> Inputs {
    let results = target.join("bench-results");
    let shown = |name: &str| format!("target/bench-results/{name}");
    Inputs {
        criterion: load_criterion(&target.join("criterion")),
        e2e: load_json(&results.join("e2e.json"), &shown("e2e.json")),
        http: load_json(&results.join("http.json"), &shown("http.json")),
        python: load_json(&results.join("python.json"), &shown("python.json")),
        rss: load_json(&results.join("rss.json"), &shown("rss.json")),
    }
}
