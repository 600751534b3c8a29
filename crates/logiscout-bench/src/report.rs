//! The report behind `docs/benchmarks.md`: reads the measurement files, renders one markdown section per
//! measurement plus the targets table, replaces the generated parts of the document between
//! `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers, and draws `docs/hot-path.svg`.
//!
//! It measures nothing itself. Run it with `cargo run --release -p logiscout-bench --bin bench_report`
//! (see that binary for the options); it writes `docs/benchmarks.md` (generated sections only) and
//! `docs/hot-path.svg`.
//!
//! Inputs (all under the target directory, normally `<workspace>/target`):
//! - `criterion/<group>/<function>/new/estimates.json` (+ `benchmark.json` for throughput), from
//!   `cargo bench -p logiscout-bench` (and the older `logiscout-core` / `logiscout-tower` benches);
//! - `bench-results/e2e.json`, `http.json`, `python.json`, `rss.json`, from the other measurements.
//!
//! Loading and reading the machine are the only I/O here; every `render_*` function is pure, so the tables
//! and the chart are unit-tested from in-memory fixtures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------------------

/// Criterion groups written by `cargo bench -p logiscout-bench`.
pub const HOT_1: &str = "hot_path_1_thread";
/// Two threads logging at once: wall time per call.
pub const HOT_2: &str = "hot_path_2_threads";
/// `debug!` under an `info` filter.
pub const DISABLED: &str = "disabled_level";
/// The loggers of the hot-path groups, in the order the issue lists them.
pub const LOGGERS: [&str; 6] = [
    "logiscout",
    "env_logger",
    "tracing_json_nonblocking",
    "opentelemetry_batch",
    "ftlog",
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

    fn newest(&self, group: &str) -> Option<u64> {
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
    fn logs_per_s(&self) -> Option<f64> {
        self.median_logs_per_s.or_else(|| {
            let s = median(&self.seconds)?;
            (s > 0.0 && self.logs > 0.0).then(|| self.logs / s)
        })
    }

    fn bytes_per_log(&self) -> Option<f64> {
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
    fn rps(&self) -> Option<f64> {
        self.median_requests_per_s
            .or_else(|| median(&self.requests_per_s))
    }

    fn cpu(&self) -> Option<f64> {
        self.median_cpu_us_per_request
            .or_else(|| median(&self.cpu_us_per_request))
            .filter(|c| c.is_finite() && *c > 0.0)
    }
}

/// The throughput a layer costs, in %, from the server's CPU time per request (the server saturates one
/// core, so throughput is 1 / CPU per request): `1 - base / variant`.
fn cpu_cost_pct(base_cpu: f64, variant_cpu: f64) -> f64 {
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
    fn ns(&self) -> Option<f64> {
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
    fn limit(&self) -> f64 {
        self.max_buffer_bytes + self.constant_allowance_bytes
    }
    fn within(&self) -> bool {
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

fn unreadable<T>(i: &Input<T>) -> Option<&str> {
    match i {
        Input::Unreadable(m) => Some(m),
        _ => None,
    }
}

fn mtime(path: &Path) -> Option<u64> {
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
struct RawEstimates {
    median: RawStat,
}
#[derive(Deserialize)]
struct RawStat {
    point_estimate: f64,
    confidence_interval: RawCi,
}
#[derive(Deserialize)]
struct RawCi {
    lower_bound: f64,
    upper_bound: f64,
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

// ---------------------------------------------------------------------------------------------------------
// Machine
// ---------------------------------------------------------------------------------------------------------

/// The machine the report is generated on (the measurements are meant to be taken on it too).
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: Option<String>,
    /// Logical CPUs.
    pub cores: Option<usize>,
    /// `MemTotal` from `/proc/meminfo`, bytes.
    pub mem_bytes: Option<u64>,
    /// `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    /// `rustc -V`.
    pub rustc: Option<String>,
    /// Newest input's modification time, seconds since the Unix epoch.
    pub measured_at: Option<u64>,
}

impl Machine {
    /// Reads the running machine; `measured_at` is the newest input's mtime.
    pub fn read(measured_at: Option<u64>) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
        let procs = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let cores = if procs > 0 {
            Some(procs)
        } else {
            std::thread::available_parallelism().ok().map(|n| n.get())
        };
        let mem_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_string();
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        let rustc =
            std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
                .arg("-V")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Self {
            cpu,
            cores,
            mem_bytes,
            kernel,
            rustc,
            measured_at,
        }
    }

    /// One line for the chart: `AMD EPYC · 2 CPUs · 23.5 GiB · Linux 6.1 · rustc 1.95.0 · 2026-11-25`.
    pub fn one_line(&self) -> String {
        let mut parts = Vec::new();
        parts.push(self.cpu.clone().unwrap_or_else(|| "unknown CPU".into()));
        if let Some(c) = self.cores {
            parts.push(format!("{c} CPUs"));
        }
        if let Some(m) = self.mem_bytes {
            parts.push(format!("{} RAM", fmt_bytes(m as f64)));
        }
        if let Some(k) = &self.kernel {
            parts.push(format!("Linux {k}"));
        }
        if let Some(r) = &self.rustc {
            // "rustc 1.95.0 (59807616e 2026-04-14)" → "rustc 1.95.0"
            parts.push(r.split(" (").next().unwrap_or(r).to_string());
        }
        if let Some(t) = self.measured_at {
            parts.push(utc_date(t));
        }
        parts.join(" · ")
    }
}

/// `2026-11-25 13:40 UTC`.
pub fn utc_datetime(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// `2026-11-25`.
pub fn utc_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Now, seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------------------------------------

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float rounded to an integer with thousands separators (keeps the sign).
pub fn thousands_f(x: f64) -> String {
    let r = x.round();
    if r < 0.0 {
        format!("-{}", thousands((-r) as u64))
    } else {
        thousands(r as u64)
    }
}

/// Three significant digits: `1.80`, `53.6`, `412`, `1,234`.
pub fn sig3(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        thousands_f(x)
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A plain number: integers with thousands separators, others with three significant digits.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        thousands_f(x)
    } else {
        sig3(x)
    }
}

/// Nanoseconds: `0.79 ns`, `48.3 ns`, `1,234 ns`.
pub fn fmt_ns(ns: f64) -> String {
    format!("{} ns", sig3(ns))
}

/// A duration given in ns, in the unit that reads best: `489 ns`, `3,284 ns`, `11.1 ms`, `1.20 s`.
pub fn fmt_duration(ns: f64) -> String {
    let a = ns.abs();
    if a < 10_000.0 {
        fmt_ns(ns)
    } else if a < 1e6 {
        format!("{} µs", sig3(ns / 1e3))
    } else if a < 1e9 {
        format!("{} ms", sig3(ns / 1e6))
    } else {
        format!("{} s", sig3(ns / 1e9))
    }
}

/// A count with SI prefix: `1.80 M`, `53.6 k`, `412`.
pub fn fmt_si(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{} G", sig3(x / 1e9))
    } else if a >= 1e6 {
        format!("{} M", sig3(x / 1e6))
    } else if a >= 1e3 {
        format!("{} k", sig3(x / 1e3))
    } else {
        sig3(x)
    }
}

/// A rate: `1.80 M/s`, `53.6 k/s`, `412/s`.
pub fn fmt_rate(per_s: f64) -> String {
    let s = fmt_si(per_s);
    if s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{s}/s")
    } else {
        format!("{s} /s")
    }
}

/// A ratio: `×0.42`, `×1.80`, `×12.5`, `×1,234`.
pub fn fmt_ratio(r: f64) -> String {
    if r.abs() >= 100.0 {
        format!("×{}", thousands_f(r))
    } else if r.abs() >= 10.0 {
        format!("×{r:.1}")
    } else {
        format!("×{r:.2}")
    }
}

/// A percentage with one decimal: `6.2 %`, `-1.3 %`.
pub fn fmt_pct(p: f64) -> String {
    format!("{p:.1} %")
}

/// Bytes in binary units: `195 B`, `12.0 KiB`, `64.0 MiB`, `23.5 GiB`; keeps the sign.
pub fn fmt_bytes(b: f64) -> String {
    let a = b.abs();
    const K: f64 = 1024.0;
    if a < K {
        format!("{} B", thousands_f(b))
    } else if a < K * K {
        format!("{} KiB", sig3(b / K))
    } else if a < K * K * K {
        format!("{} MiB", sig3(b / (K * K)))
    } else {
        format!("{} GiB", sig3(b / (K * K * K)))
    }
}

/// Median of a list (NaN-free input assumed); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

// ---------------------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------------------

/// How a logger (criterion function id) is shown.
pub fn display_name(function: &str) -> String {
    match function {
        "logiscout" => "logiscout".into(),
        "env_logger" => "env_logger".into(),
        "tracing_json_nonblocking" => "tracing JSON, non-blocking".into(),
        "opentelemetry_batch" => "OpenTelemetry batch".into(),
        "ftlog" => "ftlog (prints no key-values)".into(),
        "floor_queue" => "floor: bare queue".into(),
        other => other.into(),
    }
}

fn logger_cell(function: &str) -> String {
    if function == "logiscout" {
        "**logiscout**".into()
    } else {
        let shown = display_name(function);
        if shown == function {
            format!("`{function}`")
        } else {
            format!("{shown} (`{function}`)")
        }
    }
}

/// The italic line shown for a section whose input is missing.
pub fn not_measured(command: &str) -> String {
    format!("_Not measured in this run: run `{command}`._\n")
}

fn unreadable_note<T>(input: &Input<T>, command: &str) -> String {
    match input {
        Input::Unreadable(msg) => format!(
            "_Not measured in this run: the input could not be read ({}); run `{command}`._\n",
            md_escape(msg)
        ),
        _ => not_measured(command),
    }
}

fn source_note(source: &str, modified: Option<u64>) -> String {
    match modified {
        Some(t) => format!("_Source: `{source}`, written {}._\n", utc_datetime(t)),
        None => format!("_Source: `{source}`._\n"),
    }
}

fn sorted_benches(group: &BTreeMap<String, Bench>) -> Vec<(&str, &Bench)> {
    let mut v: Vec<(&str, &Bench)> = group.iter().map(|(k, b)| (k.as_str(), b)).collect();
    v.sort_by(|a, b| a.1.est.median.total_cmp(&b.1.est.median));
    v
}

fn absent_loggers(group: &BTreeMap<String, Bench>) -> String {
    let absent: Vec<String> = LOGGERS
        .iter()
        .filter(|l| !group.contains_key(**l))
        .map(|l| format!("`{l}`"))
        .collect();
    if absent.is_empty() {
        String::new()
    } else {
        format!("\n_Not measured in this run: {}._\n", absent.join(", "))
    }
}

fn ci(e: &Estimate) -> String {
    format!("[{}, {}]", sig3(e.lower), sig3(e.upper))
}

/// The machine section.
pub fn render_machine(m: &Machine) -> String {
    let unknown = || "unknown".to_string();
    let mut s = String::new();
    let cpu = m.cpu.clone().unwrap_or_else(unknown);
    let cores = m
        .cores
        .map(|c| format!(", {c} logical CPUs"))
        .unwrap_or_default();
    let _ = writeln!(s, "| | |\n|---|---|");
    let _ = writeln!(s, "| CPU | {}{cores} |", md_escape(&cpu));
    let _ = writeln!(
        s,
        "| memory | {} |",
        m.mem_bytes
            .map(|b| fmt_bytes(b as f64))
            .unwrap_or_else(unknown)
    );
    let _ = writeln!(
        s,
        "| kernel | Linux {} |",
        m.kernel.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        s,
        "| compiler | `{}`, release profile |",
        m.rustc.clone().unwrap_or_else(unknown)
    );
    let _ = writeln!(
        s,
        "| measured | {} |",
        m.measured_at
            .map(|t| format!("{} (newest input file)", utc_datetime(t)))
            .unwrap_or_else(|| "no input files found".into())
    );
    s
}

/// Hot path, one thread: median [CI], ratio vs logiscout and vs the floor, fastest first.
pub fn render_hot_path(c: &Criterion) -> String {
    let Some(group) = c.group(HOT_1) else {
        return not_measured(CMD_CRITERION);
    };
    let base = group.get("logiscout").map(|b| b.est.median);
    let floor = group.get("floor_queue").map(|b| b.est.median);
    let mut s = String::from(
        "| logger | median per call | 95 % CI (ns) | vs logiscout | vs floor |\n|---|---|---|---|---|\n",
    );
    for (name, b) in sorted_benches(group) {
        let ratio = |r: Option<f64>| match r {
            Some(r) if r > 0.0 => fmt_ratio(b.est.median / r),
            _ => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            logger_cell(name),
            fmt_ns(b.est.median),
            ci(&b.est),
            ratio(base),
            ratio(floor)
        );
    }
    s.push_str(&absent_loggers(group));
    s.push('\n');
    s.push_str(&source_note(
        &format!("target/criterion/{HOT_1}/*/new/estimates.json"),
        c.newest(HOT_1),
    ));
    s
}

/// Two threads: wall ns per call, aggregate calls/s, per-thread ns per call.
pub fn render_two_threads(c: &Criterion) -> String {
    let Some(group) = c.group(HOT_2) else {
        return not_measured(CMD_CRITERION);
    };
    let one = c.group(HOT_1);
    let mut s = String::from(
        "| logger | wall time per call | 95 % CI (ns) | aggregate calls/s | per-thread time per call | per thread vs 1 thread |\n|---|---|---|---|---|---|\n",
    );
    for (name, b) in sorted_benches(group) {
        let wall = b.est.median;
        let per_thread = 2.0 * wall;
        let vs1 = one
            .and_then(|g| g.get(name))
            .filter(|b1| b1.est.median > 0.0)
            .map(|b1| fmt_ratio(per_thread / b1.est.median))
            .unwrap_or_else(|| "—".into());
        let rate = if wall > 0.0 {
            fmt_rate(1e9 / wall)
        } else {
            "—".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            logger_cell(name),
            fmt_ns(wall),
            ci(&b.est),
            rate,
            fmt_ns(per_thread),
            vs1
        );
    }
    s.push_str(&absent_loggers(group));
    s.push_str(
        "\nWall time per call is criterion's median with both threads logging at once (= 1 / aggregate \
         throughput); per-thread time is twice that.\n\n",
    );
    s.push_str(&source_note(
        &format!("target/criterion/{HOT_2}/*/new/estimates.json"),
        c.newest(HOT_2),
    ));
    s
}

/// Disabled level: ns per call.
pub fn render_disabled(c: &Criterion) -> String {
    let Some(group) = c.group(DISABLED) else {
        return not_measured(CMD_CRITERION);
    };
    let mut s = String::from("| logger | median per call | 95 % CI (ns) |\n|---|---|---|\n");
    for (name, b) in sorted_benches(group) {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            logger_cell(name),
            fmt_ns(b.est.median),
            ci(&b.est)
        );
    }
    s.push_str(&absent_loggers(group));
    s.push('\n');
    s.push_str(&source_note(
        &format!("target/criterion/{DISABLED}/*/new/estimates.json"),
        c.newest(DISABLED),
    ));
    s
}

/// End to end: latency × gzip → delivered logs/s, bytes per log, gzip ratio; plus the criterion
/// `pipeline` group when present.
pub fn render_e2e(e2e: &Input<E2e>, c: &Criterion) -> String {
    let mut s = String::new();
    match e2e {
        Input::Present(l) if !l.value.runs.is_empty() => {
            let e = &l.value;
            if !e.server.is_empty() {
                let _ = writeln!(s, "Server: {}.\n", e.server.trim_end_matches('.'));
            }
            s.push_str(
                "| server latency | gzip | logs per repeat | delivered logs/s (median) | range over repeats | bytes per log | wire size vs no gzip |\n|---|---|---|---|---|---|---|\n",
            );
            let mut runs: Vec<&E2eRun> = e.runs.iter().collect();
            runs.sort_by(|a, b| {
                a.latency_ms
                    .total_cmp(&b.latency_ms)
                    .then(a.gzip.cmp(&b.gzip))
            });
            for r in runs {
                let plain = e
                    .runs
                    .iter()
                    .find(|p| !p.gzip && p.latency_ms == r.latency_ms)
                    .and_then(|p| p.bytes_per_log());
                let gz = match (r.gzip, r.bytes_per_log(), plain) {
                    (true, Some(g), Some(p)) if p > 0.0 => fmt_ratio(g / p),
                    _ => "—".into(),
                };
                let range = {
                    let rates: Vec<f64> = r
                        .seconds
                        .iter()
                        .filter(|x| **x > 0.0)
                        .map(|x| r.logs / x)
                        .collect();
                    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    if rates.len() > 1 {
                        format!("{} – {}", fmt_rate(lo), fmt_rate(hi))
                    } else {
                        "—".into()
                    }
                };
                let _ = writeln!(
                    s,
                    "| {} ms | {} | {} | {} | {} | {} | {} |",
                    thousands_f(r.latency_ms),
                    if r.gzip { "yes" } else { "no" },
                    thousands_f(r.logs),
                    r.logs_per_s().map(fmt_rate).unwrap_or_else(|| "—".into()),
                    range,
                    r.bytes_per_log()
                        .map(|b| format!("{b:.1} B"))
                        .unwrap_or_else(|| "—".into()),
                    gz
                );
            }
            if let Some(note) = e.bottleneck_note.as_deref().filter(|n| !n.is_empty()) {
                let _ = writeln!(s, "\n{note}");
            }
            s.push('\n');
            s.push_str(&source_note(&l.source, l.modified));
        }
        other => s.push_str(&unreadable_note(other, CMD_E2E)),
    }
    if let Some(group) = c.group("pipeline") {
        s.push_str(
            "\nCriterion `pipeline` bench (`cargo bench -p logiscout-core --bench pipeline`): one iteration logs a \
             batch of records and waits until the server accepted them all.\n\n\
             | case | delivered logs/s [95 % CI] | time per iteration |\n|---|---|---|\n",
        );
        for (name, b) in sorted_benches(group) {
            let n = b.elements.unwrap_or(20_000.0);
            let rate = |ns: f64| {
                if ns > 0.0 {
                    n * 1e9 / ns
                } else {
                    f64::NAN
                }
            };
            let _ = writeln!(
                s,
                "| `{name}` | {} [{}, {}] | {} ({} logs) |",
                fmt_rate(rate(b.est.median)),
                fmt_si(rate(b.est.upper)),
                fmt_si(rate(b.est.lower)),
                fmt_duration(b.est.median),
                thousands_f(n)
            );
        }
        s.push('\n');
        s.push_str(&source_note(
            "target/criterion/pipeline/*/new/estimates.json",
            c.newest("pipeline"),
        ));
    }
    s
}

fn http_baselines(h: &Http) -> BTreeMap<&str, &HttpResult> {
    let mut m = BTreeMap::new();
    for r in &h.results {
        m.entry(r.framework.as_str()).or_insert(r);
    }
    m
}

/// `(baseline - variant) / baseline` in percent: the share of requests per second the variant costs.
pub fn cost_pct(baseline: f64, variant: f64) -> f64 {
    (baseline - variant) / baseline * 100.0
}

/// Middleware under HTTP load: req/s per framework/variant, cost vs the baseline, latencies; plus the
/// in-process criterion groups when present.
pub fn render_middleware(http: &Input<Http>, c: &Criterion) -> String {
    let mut s = String::new();
    match http {
        Input::Present(l) if !l.value.results.is_empty() => {
            let h = &l.value;
            let _ = writeln!(
                s,
                "Load: `{}`, {} connections, {} load thread(s), {} s per round, {} rounds per variant; server pinned to CPU {}, load generator to CPU {}. The first variant of each framework is its baseline.\n",
                md_escape(&h.tool),
                thousands_f(h.connections),
                thousands_f(h.threads),
                fmt_num(h.duration_s),
                thousands_f(h.rounds),
                h.server_cpu,
                h.load_cpu
            );
            s.push_str(
                "| framework | variant | server CPU per request (median) | throughput cost (from CPU) | req/s (median) | req/s per round | cost (from req/s) | p50 latency | p99 latency |\n|---|---|---|---|---|---|---|---|---|\n",
            );
            let bases = http_baselines(h);
            for r in &h.results {
                let base = bases.get(r.framework.as_str()).copied();
                let is_base = base.is_some_and(|b| std::ptr::eq(b, r));
                let cost = match (base.and_then(HttpResult::rps), r.rps()) {
                    _ if is_base => "baseline".to_string(),
                    (Some(b), Some(v)) if b > 0.0 => fmt_pct(cost_pct(b, v)),
                    _ => "—".into(),
                };
                let cpu_cost = match (base.and_then(HttpResult::cpu), r.cpu()) {
                    _ if is_base => "baseline".to_string(),
                    (Some(b), Some(v)) => fmt_pct(cpu_cost_pct(b, v)),
                    _ => "—".into(),
                };
                let rounds = r
                    .requests_per_s
                    .iter()
                    .map(|x| fmt_si(*x))
                    .collect::<Vec<_>>()
                    .join(", ");
                let us = |x: Option<f64>| {
                    x.map(|u| fmt_duration(u * 1e3))
                        .unwrap_or_else(|| "—".into())
                };
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    md_escape(&r.framework),
                    md_escape(&r.variant),
                    r.cpu()
                        .map(|c| format!("{c:.2} µs"))
                        .unwrap_or_else(|| "—".into()),
                    cpu_cost,
                    r.rps().map(fmt_si).unwrap_or_else(|| "—".into()),
                    if rounds.is_empty() {
                        "—".into()
                    } else {
                        rounds
                    },
                    cost,
                    us(r.p50_latency_us),
                    us(r.p99_latency_us)
                );
            }
            s.push_str(
                "\nThroughput cost (from CPU): `1 − baseline CPU per request / variant CPU per request`, the share of a saturated core's requests lost to the middleware; CPU time leaves out time the server was not scheduled, not a slower core; the target uses it. Cost (from req/s): the share of the baseline's median requests per second lost (negative: more req/s than the baseline, i.e. noise).\n\n",
            );
            s.push_str(&source_note(&l.source, l.modified));
        }
        other => s.push_str(&unreadable_note(other, CMD_HTTP)),
    }
    let groups: Vec<&str> = c
        .groups
        .keys()
        .map(String::as_str)
        .filter(|g| MIDDLEWARE_GROUPS.contains(g) || g.starts_with("middleware"))
        .filter(|g| c.group(g).is_some())
        .collect();
    if !groups.is_empty() {
        s.push_str(
            "\nIn process, no sockets (criterion, `cargo bench -p logiscout-tower --bench middleware`):\n\n\
             | group | case | median per request [95 % CI] | overhead vs `no_layer` |\n|---|---|---|---|\n",
        );
        let mut newest = None;
        for g in groups {
            let Some(benches) = c.group(g) else { continue };
            newest = newest.max(c.newest(g));
            let base = benches.get("no_layer").map(|b| b.est.median);
            let mut first = true;
            for (name, b) in sorted_benches(benches) {
                let over = match base {
                    Some(_) if name == "no_layer" => "—".to_string(),
                    Some(bm) if bm > 0.0 => format!(
                        "{}{} ({}{})",
                        if b.est.median >= bm { "+" } else { "" },
                        fmt_duration(b.est.median - bm),
                        if b.est.median >= bm { "+" } else { "" },
                        fmt_pct((b.est.median - bm) / bm * 100.0)
                    ),
                    _ => "—".into(),
                };
                let _ = writeln!(
                    s,
                    "| {} | `{name}` | {} {} | {over} |",
                    if first {
                        format!("`{g}`")
                    } else {
                        String::new()
                    },
                    fmt_duration(b.est.median),
                    ci(&b.est)
                );
                first = false;
            }
        }
        s.push('\n');
        s.push_str(&source_note(
            "target/criterion/<group>/*/new/estimates.json",
            newest,
        ));
    }
    s
}

/// Python vs Rust: the Python client's median ns per call against logiscout's hot path.
pub fn render_python(py: &Input<Python>, c: &Criterion) -> String {
    let l = match py {
        Input::Present(l) => l,
        other => return unreadable_note(other, CMD_PYTHON),
    };
    let p = &l.value;
    let rust = c.bench(HOT_1, "logiscout").map(|b| b.est);
    let mut s = String::from("| client | median per call | per repeat |\n|---|---|---|\n");
    let repeats = p
        .ns_per_call
        .iter()
        .map(|x| fmt_duration(*x))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        s,
        "| Python `{}` ({}) | {} | {} |",
        md_escape(&p.client),
        if p.python.is_empty() {
            "Python".to_string()
        } else if p.python.to_ascii_lowercase().starts_with("python") {
            md_escape(&p.python)
        } else {
            format!("Python {}", md_escape(&p.python))
        },
        p.ns().map(fmt_duration).unwrap_or_else(|| "—".into()),
        if repeats.is_empty() {
            "—".into()
        } else {
            repeats
        }
    );
    match rust {
        Some(e) => {
            let _ = writeln!(
                s,
                "| Rust **logiscout** (`{HOT_1}`) | {} {} | — |",
                fmt_ns(e.median),
                ci(&e)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "| Rust **logiscout** (`{HOT_1}`) | not measured: run `{CMD_CRITERION}` | — |"
            );
        }
    }
    s.push('\n');
    if let (Some(pn), Some(e)) = (p.ns(), rust) {
        if e.median > 0.0 {
            let _ = writeln!(
                s,
                "Python client / logiscout, time per call: **{}**.\n",
                fmt_ratio(pn / e.median)
            );
        }
    }
    let _ = write!(
        s,
        "{} calls per repeat, {} repeats. Delivered {} of {} logged",
        thousands_f(p.calls_per_repeat),
        thousands_f(p.repeats),
        thousands_f(p.delivered),
        thousands_f(p.logged)
    );
    if p.logged > 0.0 {
        let _ = write!(s, " ({})", fmt_pct(p.delivered / p.logged * 100.0));
    }
    s.push('.');
    if !p.console.is_empty() {
        let _ = write!(s, " Console: {}.", p.console.trim_end_matches('.'));
    }
    if !p.url_patched_to.is_empty() {
        let _ = write!(s, " Ingest URL patched to `{}`.", p.url_patched_to);
    }
    s.push_str("\n\n");
    s.push_str(&source_note(&l.source, l.modified));
    s
}

/// Memory: per run the cap, the growth, cap + constant, and whether growth stayed within.
pub fn render_memory(rss: &Input<Rss>) -> String {
    let l = match rss {
        Input::Present(l) if !l.value.runs.is_empty() => l,
        other => return unreadable_note(other, CMD_RSS),
    };
    let mut s = String::from(
        "| records | cap (`max_buffer_bytes`) | `max_queue_logs` | cap + constant | baseline RSS | peak RSS | growth | within cap + constant | enqueued | dropped | time |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut disagreements = Vec::new();
    for r in &l.value.runs {
        let within = r.within();
        if r.within_cap.is_some_and(|w| w != within) {
            disagreements.push(thousands_f(r.records));
        }
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} + {} = {} | {} | {} | {} | {} | {} | {} | {:.1} s |",
            thousands_f(r.records),
            fmt_bytes(r.max_buffer_bytes),
            thousands_f(r.max_queue_logs),
            fmt_bytes(r.max_buffer_bytes),
            fmt_bytes(r.constant_allowance_bytes),
            fmt_bytes(r.limit()),
            fmt_bytes(r.baseline_rss_bytes),
            fmt_bytes(r.peak_rss_bytes),
            fmt_bytes(r.growth_bytes),
            if within { "yes" } else { "**no**" },
            thousands_f(r.logs_enqueued),
            thousands_f(r.logs_dropped),
            r.seconds
        );
    }
    if !disagreements.is_empty() {
        let _ = writeln!(
            s,
            "\n_Note: the file's own `within_cap` disagrees with growth ≤ cap + constant for the run(s) with {} records._",
            disagreements.join(", ")
        );
    }
    s.push('\n');
    s.push_str(&source_note(&l.source, l.modified));
    s
}

// ---------------------------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------------------------

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Measured and met.
    Met,
    /// Measured and missed.
    Missed,
    /// An input is missing.
    NotMeasured,
}

/// One target of the issue.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is required.
    pub name: String,
    /// What was measured (empty when not measured).
    pub measured: String,
    /// The verdict.
    pub status: Status,
}

fn target(name: &str, measured: Option<(String, bool)>) -> Target {
    match measured {
        Some((m, ok)) => Target {
            name: name.into(),
            measured: m,
            status: if ok { Status::Met } else { Status::Missed },
        },
        None => Target {
            name: name.into(),
            measured: String::new(),
            status: Status::NotMeasured,
        },
    }
}

/// Evaluates every target of the issue.
pub fn targets(inputs: &Inputs) -> Vec<Target> {
    let c = &inputs.criterion;
    let ls = c.bench(HOT_1, "logiscout").map(|b| b.est.median);
    let vs = |peer: &str, limit: f64| -> Option<(String, bool)> {
        let l = ls?;
        let p = c.bench(HOT_1, peer)?.est.median;
        if p <= 0.0 {
            return None;
        }
        let r = l / p;
        Some((
            format!("{} ({} vs {})", fmt_ratio(r), fmt_ns(l), fmt_ns(p)),
            r <= limit,
        ))
    };
    let mut out = vec![
        target(
            "logiscout hot path (1 thread) median ≤ 250 ns",
            ls.map(|l| (fmt_ns(l), l <= 250.0)),
        ),
        target(
            "logiscout ≤ 0.5 × tracing JSON non-blocking (`tracing_json_nonblocking`)",
            vs("tracing_json_nonblocking", 0.5),
        ),
        target(
            "logiscout ≤ 1.0 × OpenTelemetry batch (`opentelemetry_batch`)",
            vs("opentelemetry_batch", 1.0),
        ),
        target(
            "logiscout ≤ 2 × the floor, a bare queue (`floor_queue`)",
            vs("floor_queue", 2.0),
        ),
    ];
    let py = inputs.python.get().and_then(|l| l.value.ns());
    out.push(target(
        "Python client time per call ≥ 500 × logiscout's",
        match (py, ls) {
            (Some(p), Some(l)) if l > 0.0 => Some((
                format!(
                    "{} ({} vs {})",
                    fmt_ratio(p / l),
                    fmt_duration(p),
                    fmt_ns(l)
                ),
                p / l >= 500.0,
            )),
            _ => None,
        },
    ));
    let axum = inputs.http.get().and_then(|l| {
        let h = &l.value;
        let base = h.results.iter().find(|r| r.framework == "axum")?;
        let layer = h
            .results
            .iter()
            .filter(|r| r.framework == "axum" && !std::ptr::eq(*r, base))
            .find(|r| r.variant.to_ascii_lowercase().contains("correlation"))?;
        if let (Some(b), Some(v)) = (base.cpu(), layer.cpu()) {
            let cost = cpu_cost_pct(b, v);
            return Some((
                format!(
                    "{} (server CPU per request {v:.2} µs vs {b:.2} µs)",
                    fmt_pct(cost)
                ),
                cost <= 10.0,
            ));
        }
        let (b, v) = (base.rps()?, layer.rps()?);
        if b <= 0.0 {
            return None;
        }
        let cost = cost_pct(b, v);
        Some((
            format!("{} ({} vs {} req/s)", fmt_pct(cost), fmt_si(v), fmt_si(b)),
            cost <= 10.0,
        ))
    });
    out.push(target(
        "axum `CorrelationLayer` costs ≤ 10 % of the no-layer req/s",
        axum,
    ));
    let rss = inputs
        .rss
        .get()
        .filter(|l| !l.value.runs.is_empty())
        .map(|l| {
            let runs = &l.value.runs;
            let ok = runs.iter().all(RssRun::within);
            let worst = runs
                .iter()
                .max_by(|a, b| {
                    (a.growth_bytes - a.limit()).total_cmp(&(b.growth_bytes - b.limit()))
                })
                .expect("runs is not empty");
            (
                format!(
                    "{} growth vs {} cap + constant{}",
                    fmt_bytes(worst.growth_bytes),
                    fmt_bytes(worst.limit()),
                    if runs.len() > 1 {
                        format!(" (worst of {} runs)", runs.len())
                    } else {
                        String::new()
                    }
                ),
                ok,
            )
        });
    out.push(target("RSS growth ≤ cap + constant", rss));
    out
}

/// The targets table.
pub fn render_targets(ts: &[Target]) -> String {
    let mut s = String::from("| target | measured | result |\n|---|---|---|\n");
    for t in ts {
        let (m, r) = match t.status {
            Status::Met => (t.measured.as_str(), "met"),
            Status::Missed => (t.measured.as_str(), "**missed**"),
            Status::NotMeasured => ("—", "not measured"),
        };
        let _ = writeln!(s, "| {} | {} | {} |", t.name, md_escape(m), r);
    }
    s
}

/// Every section, in [`SECTION_NAMES`] order, and the targets.
pub fn render_all(
    machine: &Machine,
    inputs: &Inputs,
) -> (Vec<(&'static str, String)>, Vec<Target>) {
    let c = &inputs.criterion;
    let ts = targets(inputs);
    let sections = vec![
        ("machine", render_machine(machine)),
        ("hot_path", render_hot_path(c)),
        ("two_threads", render_two_threads(c)),
        ("disabled", render_disabled(c)),
        ("e2e", render_e2e(&inputs.e2e, c)),
        ("middleware_http", render_middleware(&inputs.http, c)),
        ("python", render_python(&inputs.python, c)),
        ("memory", render_memory(&inputs.rss)),
        ("targets", render_targets(&ts)),
    ];
    (sections, ts)
}

// ---------------------------------------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------------------------------------

/// The opening marker of a generated section.
pub fn open_marker(name: &str) -> String {
    format!("<!-- generated:{name} -->")
}

/// The closing marker of a generated section.
pub fn close_marker(name: &str) -> String {
    format!("<!-- /generated:{name} -->")
}

/// Replaces the text between each section's markers with the section (surrounded by blank lines).
/// Every section needs exactly one opening marker followed by one closing marker; otherwise the error
/// lists every section whose markers are missing or malformed, and nothing is replaced.
pub fn replace_sections(doc: &str, sections: &[(&str, String)]) -> Result<String, String> {
    let mut problems = Vec::new();
    let mut spans = Vec::new();
    for (name, body) in sections {
        let (open, close) = (open_marker(name), close_marker(name));
        let opens: Vec<usize> = doc.match_indices(&open).map(|(i, _)| i).collect();
        let closes: Vec<usize> = doc.match_indices(&close).map(|(i, _)| i).collect();
        match (opens.as_slice(), closes.as_slice()) {
            ([], []) => problems.push(format!("{open} … {close} (both missing)")),
            ([], _) => problems.push(format!("{open} (missing)")),
            (_, []) => problems.push(format!("{close} (missing)")),
            ([o], [c]) if o + open.len() <= *c => spans.push((o + open.len(), *c, body)),
            ([_], [_]) => problems.push(format!("{close} comes before {open}")),
            _ => problems.push(format!("{open} / {close} appear more than once")),
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "generated-section markers missing or malformed:\n  {}",
            problems.join("\n  ")
        ));
    }
    spans.sort_by_key(|s| s.0);
    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err("generated sections overlap or are nested".into());
    }
    let mut out = String::with_capacity(doc.len() + 4096);
    let mut pos = 0;
    for (start, end, body) in spans {
        out.push_str(&doc[pos..start]);
        out.push_str("\n\n");
        out.push_str(body.trim_end());
        out.push_str("\n\n");
        pos = end;
    }
    out.push_str(&doc[pos..]);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------
// Chart
// ---------------------------------------------------------------------------------------------------------

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" tick step (1, 2, 2.5 or 5 × 10ⁿ) giving about 5 ticks up to `max`.
pub fn nice_step(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    let f = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 2.5 {
        2.5
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

struct Bar {
    name: String,
    est: Estimate,
    label: String,
}

const W: f64 = 860.0;
const LABEL_X: f64 = 220.0;
const PLOT_W: f64 = 500.0;
const ROW: f64 = 30.0;
const BAR_H: f64 = 20.0;
const HIGHLIGHT: &str = "#d9480f";
const OTHER: &str = "#8fa3b8";
const FLOOR: &str = "#c9d3dd";

/// The scale of a chart: `0 ..= max` in steps of `step`, both "nice".
fn axis_scale(bars: &[&Bar]) -> (f64, f64) {
    let max = bars
        .iter()
        .map(|b| b.est.median.max(b.est.upper))
        .fold(0.0, f64::max);
    let step = nice_step(max);
    (((max / step).ceil() * step).max(step), step)
}

/// Draws one panel (title, bars, ticks, axis label) with its title's baseline at `y`; returns the y
/// below it.
fn panel(
    svg: &mut String,
    y: f64,
    title: &str,
    axis_label: &str,
    bars: &[Bar],
    (axis_max, step): (f64, f64),
) -> f64 {
    let _ = writeln!(
        svg,
        r##"  <text x="24" y="{y:.0}" font-size="15" font-weight="600" fill="#1f2933">{}</text>"##,
        xml_escape(title)
    );
    let top = y + 14.0;
    let sx = |v: f64| LABEL_X + v.max(0.0) / axis_max * PLOT_W;
    let bottom = top + bars.len() as f64 * ROW + 4.0;
    let mut i = 0u32;
    loop {
        let t = f64::from(i) * step;
        if t > axis_max * (1.0 + 1e-9) {
            break;
        }
        let x = sx(t);
        let _ = writeln!(
            svg,
            r##"  <line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e4e8ec" stroke-width="1"/>"##
        );
        let _ = writeln!(
            svg,
            r##"  <text x="{x:.1}" y="{:.1}" font-size="11" fill="#52606d" text-anchor="middle">{}</text>"##,
            bottom + 15.0,
            xml_escape(&fmt_num((t * 1e6).round() / 1e6))
        );
        i += 1;
    }
    let _ = writeln!(
        svg,
        r##"  <line x1="{LABEL_X}" y1="{top:.1}" x2="{LABEL_X}" y2="{bottom:.1}" stroke="#9aa5b1" stroke-width="1"/>"##
    );
    for (i, b) in bars.iter().enumerate() {
        let ry = top + i as f64 * ROW + (ROW - BAR_H) / 2.0;
        let cy = ry + BAR_H / 2.0;
        let is_ls = b.name == "logiscout";
        let fill = if is_ls {
            HIGHLIGHT
        } else if b.name == "floor_queue" {
            FLOOR
        } else {
            OTHER
        };
        let w = (sx(b.est.median) - LABEL_X).max(2.0);
        let weight = if is_ls { "700" } else { "400" };
        let _ = writeln!(
            svg,
            r##"  <text x="{:.1}" y="{:.1}" font-size="13" font-weight="{weight}" fill="#1f2933" text-anchor="end">{}</text>"##,
            LABEL_X - 10.0,
            cy + 4.5,
            xml_escape(&display_name(&b.name))
        );
        let _ = writeln!(
            svg,
            r##"  <rect x="{LABEL_X}" y="{ry:.1}" width="{w:.1}" height="{BAR_H}" rx="2" fill="{fill}"/>"##
        );
        // 95 % confidence interval of the median, as a whisker.
        let (lo, hi) = (sx(b.est.lower), sx(b.est.upper));
        if hi - lo >= 1.0 {
            let _ = writeln!(
                svg,
                r##"  <path d="M{lo:.1} {cy:.1}H{hi:.1}M{lo:.1} {:.1}V{:.1}M{hi:.1} {:.1}V{:.1}" stroke="#323f4b" stroke-width="1" fill="none"/>"##,
                cy - 4.0,
                cy + 4.0,
                cy - 4.0,
                cy + 4.0
            );
        }
        let lx = sx(b.est.median).max(hi).max(LABEL_X + 2.0) + 6.0;
        let _ = writeln!(
            svg,
            r##"  <text x="{lx:.1}" y="{:.1}" font-size="12" font-weight="{weight}" fill="{}">{}</text>"##,
            cy + 4.0,
            if is_ls { HIGHLIGHT } else { "#323f4b" },
            xml_escape(&b.label)
        );
    }
    let _ = writeln!(
        svg,
        r##"  <text x="{:.1}" y="{:.1}" font-size="12" fill="#323f4b" text-anchor="middle">{}</text>"##,
        LABEL_X + PLOT_W / 2.0,
        bottom + 34.0,
        xml_escape(axis_label)
    );
    bottom + 34.0
}

/// `docs/hot-path.svg`: horizontal bars of the one-thread hot-path medians per logger (logiscout
/// highlighted, 95 % CI whiskers, value labels), and a second panel, on the same scale, for two threads
/// when measured. `None` when the one-thread group was not measured.
pub fn render_svg(machine: &Machine, c: &Criterion) -> Option<String> {
    let one = c.group(HOT_1)?;
    let bars1: Vec<Bar> = sorted_benches(one)
        .into_iter()
        .map(|(n, b)| Bar {
            name: n.to_string(),
            est: b.est,
            label: fmt_ns(b.est.median),
        })
        .collect();
    let bars2: Vec<Bar> = c
        .group(HOT_2)
        .map(|g| {
            sorted_benches(g)
                .into_iter()
                .map(|(n, b)| Bar {
                    name: n.to_string(),
                    est: b.est,
                    label: if b.est.median > 0.0 {
                        format!(
                            "{} ({})",
                            fmt_ns(b.est.median),
                            fmt_rate(1e9 / b.est.median)
                        )
                    } else {
                        fmt_ns(b.est.median)
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    // One scale for both panels, so their bars compare.
    let scale = axis_scale(&bars1.iter().chain(&bars2).collect::<Vec<_>>());

    let mut body = String::new();
    let _ = writeln!(
        body,
        r##"  <text x="24" y="32" font-size="20" font-weight="700" fill="#1f2933">Hot path: one <tspan font-family="DejaVu Sans Mono, Menlo, monospace">log::info!</tspan> call, per logger</text>"##
    );
    let _ = writeln!(
        body,
        r##"  <text x="24" y="54" font-size="12" fill="#52606d">{}</text>"##,
        xml_escape(&machine.one_line())
    );
    let mut y = panel(
        &mut body,
        90.0,
        "1 thread: time per call",
        "ns per call (median, lower is better)",
        &bars1,
        scale,
    );
    if !bars2.is_empty() {
        y = panel(
            &mut body,
            y + 44.0,
            "2 threads logging at once: wall time per call (aggregate calls/s)",
            "ns per call, wall time = 1 / aggregate throughput (median, lower is better)",
            &bars2,
            scale,
        );
    }
    y += 32.0;
    let _ = writeln!(
        body,
        r##"  <text x="24" y="{y:.1}" font-size="11" fill="#7b8794">Criterion medians; whiskers: 95 % confidence interval of the median. Every logger logs the same record: a 20-byte message and 3 key-values.</text>"##
    );
    let h = y + 18.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{h:.0}" viewBox="0 0 {W} {h:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img" aria-label="logiscout hot path: ns per log call, by logger">"##
    );
    let _ = writeln!(
        svg,
        r##"  <rect width="{W}" height="{h:.0}" fill="#ffffff"/>"##
    );
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    Some(svg)
}

// ---------------------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------------------

/// The default target directory: `$CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn default_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded<T>(value: T) -> Input<T> {
        Input::Present(Loaded {
            value,
            source: "target/bench-results/x.json".into(),
            modified: Some(1_764_078_000),
        })
    }

    fn hot_criterion() -> Criterion {
        let mut c = Criterion::default();
        for (name, m) in [
            ("logiscout", 200.0),
            ("env_logger", 1500.0),
            ("tracing_json_nonblocking", 500.0),
            ("opentelemetry_batch", 800.0),
            ("ftlog", 300.0),
            ("floor_queue", 100.0),
        ] {
            c.insert(HOT_1, name, Estimate::new(m, m * 0.9, m * 1.1));
            c.insert(HOT_2, name, Estimate::new(m * 0.6, m * 0.5, m * 0.7));
            c.insert(
                DISABLED,
                name,
                Estimate::new(m / 400.0, m / 500.0, m / 300.0),
            );
        }
        c
    }

    fn full_inputs() -> Inputs {
        Inputs {
            criterion: hot_criterion(),
            e2e: loaded(E2e {
                server: "logiscout-sink".into(),
                runs: vec![
                    E2eRun {
                        latency_ms: 0.0,
                        gzip: false,
                        logs: 100_000.0,
                        repeats: 3.0,
                        seconds: vec![0.05, 0.055, 0.06],
                        median_logs_per_s: Some(1_818_181.8),
                        wire_bytes: 19_500_000.0,
                        bytes_per_log: Some(195.0),
                    },
                    E2eRun {
                        latency_ms: 0.0,
                        gzip: true,
                        logs: 100_000.0,
                        repeats: 3.0,
                        seconds: vec![0.1],
                        median_logs_per_s: None,
                        wire_bytes: 1_950_000.0,
                        bytes_per_log: None,
                    },
                ],
                bottleneck_note: Some("The sink parses every batch.".into()),
            }),
            http: loaded(Http {
                tool: "oha".into(),
                duration_s: 10.0,
                connections: 64.0,
                threads: 1.0,
                rounds: 3.0,
                server_cpu: StrOrNum::Str("0".into()),
                load_cpu: StrOrNum::Num(1.0),
                results: vec![
                    HttpResult {
                        framework: "axum".into(),
                        variant: "no layer".into(),
                        requests_per_s: vec![100_000.0, 98_000.0, 102_000.0],
                        median_requests_per_s: Some(100_000.0),
                        p50_latency_us: Some(600.0),
                        p99_latency_us: Some(1500.0),
                        cpu_us_per_request: vec![10.2, 9.8, 10.0],
                        median_cpu_us_per_request: None,
                    },
                    HttpResult {
                        framework: "axum".into(),
                        variant: "CorrelationLayer".into(),
                        requests_per_s: vec![92_000.0, 95_000.0, 93_000.0],
                        median_requests_per_s: None,
                        p50_latency_us: Some(650.0),
                        p99_latency_us: None,
                        cpu_us_per_request: vec![10.8, 11.0, 10.9],
                        median_cpu_us_per_request: Some(10.9),
                    },
                    HttpResult {
                        framework: "actix".into(),
                        variant: "no middleware".into(),
                        requests_per_s: vec![120_000.0],
                        median_requests_per_s: Some(120_000.0),
                        ..Default::default()
                    },
                    HttpResult {
                        framework: "actix".into(),
                        variant: "Correlation".into(),
                        requests_per_s: vec![123_000.0],
                        median_requests_per_s: Some(123_000.0),
                        ..Default::default()
                    },
                ],
            }),
            python: loaded(Python {
                client: "logiscout-logger 1.0.1".into(),
                python: "3.11.2".into(),
                calls_per_repeat: 10_000.0,
                repeats: 5.0,
                ns_per_call: vec![150_000.0, 160_000.0, 155_000.0],
                median_ns_per_call: Some(155_000.0),
                logged: 50_000.0,
                delivered: 50_000.0,
                console: "redirected to /dev/null".into(),
                url_patched_to: "http://127.0.0.1:9/ingest".into(),
            }),
            rss: loaded(Rss {
                runs: vec![RssRun {
                    records: 1_000_000.0,
                    max_buffer_bytes: 64.0 * 1024.0 * 1024.0,
                    max_queue_logs: 100_000.0,
                    constant_allowance_bytes: 16.0 * 1024.0 * 1024.0,
                    baseline_rss_bytes: 8.0 * 1024.0 * 1024.0,
                    peak_rss_bytes: 50.0 * 1024.0 * 1024.0,
                    growth_bytes: 42.0 * 1024.0 * 1024.0,
                    within_cap: Some(true),
                    logs_enqueued: 1_000_000.0,
                    logs_dropped: 0.0,
                    seconds: 2.5,
                }],
            }),
        }
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(fmt_ns(1234.4), "1,234 ns");
        assert_eq!(fmt_ns(48.26), "48.3 ns");
        assert_eq!(fmt_ns(0.79), "0.79 ns");
        assert_eq!(fmt_rate(1_800_000.0), "1.80 M/s");
        assert_eq!(fmt_rate(53_600.0), "53.6 k/s");
        assert_eq!(fmt_rate(412.0), "412 /s");
        assert_eq!(fmt_ratio(0.4213), "×0.42");
        assert_eq!(fmt_ratio(12.34), "×12.3");
        assert_eq!(fmt_ratio(812.4), "×812");
        assert_eq!(fmt_ratio(1234.0), "×1,234");
        assert_eq!(fmt_duration(11_100_000.0), "11.1 ms");
        assert_eq!(fmt_duration(3284.0), "3,284 ns");
        assert_eq!(fmt_duration(155_000.0), "155 µs");
        assert_eq!(fmt_bytes(195.0), "195 B");
        assert_eq!(fmt_bytes(64.0 * 1024.0 * 1024.0), "64.0 MiB");
        assert_eq!(fmt_bytes(-2048.0), "-2.00 KiB");
        assert_eq!(fmt_pct(6.25), "6.2 %");
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
        // 2024-02-29 12:34 UTC
        assert_eq!(utc_datetime(1_709_210_040), "2024-02-29 12:34 UTC");
        assert_eq!(utc_date(1_764_078_000), "2025-11-25");
    }

    #[test]
    fn hot_path_table_is_sorted_with_ratios() {
        let t = render_hot_path(&hot_criterion());
        let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("| ")).skip(1).collect();
        assert_eq!(rows.len(), 6, "{t}");
        assert!(rows[0].contains("floor: bare queue"), "{t}");
        assert!(rows[1].contains("**logiscout**"), "{t}");
        assert!(
            rows[1].contains("| 200 ns | [180, 220] | ×1.00 | ×2.00 |"),
            "{t}"
        );
        assert!(rows[5].contains("env_logger"));
        assert!(rows[5].contains("| ×7.50 | ×15.0 |"), "{t}");
        assert!(!t.contains("Not measured"));
        assert!(t.contains("_Source: `target/criterion/hot_path_1_thread/*/new/estimates.json`._"));
    }

    #[test]
    fn hot_path_lists_absent_loggers_and_missing_group() {
        let mut c = Criterion::default();
        c.insert(HOT_1, "logiscout", Estimate::new(200.0, 190.0, 210.0));
        let t = render_hot_path(&c);
        assert!(
            t.contains("| ×1.00 | — |"),
            "no floor, so no floor ratio: {t}"
        );
        assert!(t.contains("_Not measured in this run: `env_logger`, `tracing_json_nonblocking`"));
        let empty = Criterion::default();
        assert_eq!(
            render_hot_path(&empty),
            "_Not measured in this run: run `cargo bench -p logiscout-bench`._\n"
        );
        assert!(render_two_threads(&empty).starts_with("_Not measured"));
        assert!(render_disabled(&empty).starts_with("_Not measured"));
    }

    #[test]
    fn two_threads_throughput_and_per_thread() {
        let t = render_two_threads(&hot_criterion());
        // logiscout: wall 120 ns → 8.33 M/s, per thread 240 ns, ×1.20 of 1 thread's 200 ns
        assert!(
            t.contains("| **logiscout** | 120 ns | [100, 140] | 8.33 M/s | 240 ns | ×1.20 |"),
            "{t}"
        );
    }

    #[test]
    fn disabled_table() {
        let t = render_disabled(&hot_criterion());
        assert!(
            t.contains("| **logiscout** | 0.50 ns | [0.40, 0.67] |"),
            "{t}"
        );
    }

    #[test]
    fn e2e_table_with_gzip_ratio_and_fallbacks() {
        let inputs = full_inputs();
        let t = render_e2e(&inputs.e2e, &inputs.criterion);
        assert!(t.starts_with("Server: logiscout-sink.\n"), "{t}");
        assert!(
            t.contains("| 0 ms | no | 100,000 | 1.82 M/s | 1.67 M/s – 2.00 M/s | 195.0 B | — |"),
            "{t}"
        );
        // gzip: median from seconds (100k / 0.1 s), bytes/log from wire bytes, ratio 19.5/195
        assert!(
            t.contains("| 0 ms | yes | 100,000 | 1.00 M/s | — | 19.5 B | ×0.10 |"),
            "{t}"
        );
        assert!(t.contains("The sink parses every batch."));
        assert!(!t.contains("pipeline"));
        let missing = render_e2e(&Input::Missing, &Criterion::default());
        assert_eq!(missing, not_measured(CMD_E2E));
    }

    #[test]
    fn e2e_includes_pipeline_group() {
        let mut c = Criterion::default();
        c.insert(
            "pipeline",
            "delivered_latency_0ms",
            Estimate::new(11.1e6, 10.6e6, 11.6e6),
        );
        let t = render_e2e(&Input::Missing, &c);
        assert!(t.starts_with(
            "_Not measured in this run: run `cargo run --release -p logiscout-bench --bin e2e`._"
        ));
        assert!(
            t.contains(
                "| `delivered_latency_0ms` | 1.80 M/s [1.72 M, 1.89 M] | 11.1 ms (20,000 logs) |"
            ),
            "{t}"
        );
    }

    #[test]
    fn unreadable_input_says_why() {
        let t = render_python(
            &Input::Unreadable("cannot parse x: bad".into()),
            &Criterion::default(),
        );
        assert!(t.contains("could not be read (cannot parse x: bad)"), "{t}");
        assert!(t.contains("scripts/bench-python.sh"));
    }

    #[test]
    fn middleware_costs_vs_first_variant() {
        let inputs = full_inputs();
        let t = render_middleware(&inputs.http, &inputs.criterion);
        assert!(
            t.contains("| axum | no layer | 10.00 µs | baseline | 100 k | 100 k, 98.0 k, 102 k | baseline |"),
            "{t}"
        );
        assert!(
            t.contains("| axum | CorrelationLayer | 10.90 µs | 8.3 % | 93.0 k | 92.0 k, 95.0 k, 93.0 k | 7.0 % |"),
            "{t}"
        );
        assert!(
            t.contains("| actix | Correlation | — | — | 123 k | 123 k | -2.5 % |"),
            "{t}"
        );
        assert!(
            t.contains("server pinned to CPU 0, load generator to CPU 1"),
            "{t}"
        );
        assert_eq!(
            render_middleware(&Input::Missing, &Criterion::default()),
            not_measured(CMD_HTTP)
        );
    }

    #[test]
    fn middleware_latency_units() {
        // p50 600 µs = 600,000 ns → "600 µs"; p99 1,500 µs → "1.50 ms"
        let inputs = full_inputs();
        let t = render_middleware(&inputs.http, &Criterion::default());
        assert!(t.contains("| baseline | 600 µs | 1.50 ms |"), "{t}");
        assert!(t.contains("| 650 µs | — |"), "{t}");
    }

    #[test]
    fn middleware_in_process_groups() {
        let mut c = Criterion::default();
        c.insert("new_id", "no_layer", Estimate::new(761.0, 700.0, 800.0));
        c.insert(
            "new_id",
            "correlation_layer",
            Estimate::new(3284.0, 3000.0, 3500.0),
        );
        let t = render_middleware(&Input::Missing, &c);
        assert!(
            t.contains("| `new_id` | `no_layer` | 761 ns [700, 800] | — |"),
            "{t}"
        );
        assert!(
            t.contains(
                "|  | `correlation_layer` | 3,284 ns [3,000, 3,500] | +2,523 ns (+331.5 %) |"
            ),
            "{t}"
        );
    }

    #[test]
    fn python_ratio() {
        let inputs = full_inputs();
        let t = render_python(&inputs.python, &inputs.criterion);
        assert!(t.contains("| Python `logiscout-logger 1.0.1` (Python 3.11.2) | 155 µs | 150 µs, 160 µs, 155 µs |"), "{t}");
        assert!(
            t.contains("| Rust **logiscout** (`hot_path_1_thread`) | 200 ns [180, 220] | — |"),
            "{t}"
        );
        assert!(t.contains("**×775**"), "{t}");
        assert!(
            t.contains("Delivered 50,000 of 50,000 logged (100.0 %)."),
            "{t}"
        );
        let no_rust = render_python(&inputs.python, &Criterion::default());
        assert!(no_rust.contains("not measured: run `cargo bench -p logiscout-bench`"));
        assert!(!no_rust.contains("**×"));
    }

    #[test]
    fn memory_table_and_disagreement() {
        let mut inputs = full_inputs();
        let t = render_memory(&inputs.rss);
        assert!(t.contains("| 1,000,000 | 64.0 MiB | 100,000 | 64.0 MiB + 16.0 MiB = 80.0 MiB | 8.00 MiB | 50.0 MiB | 42.0 MiB | yes | 1,000,000 | 0 | 2.5 s |"), "{t}");
        if let Input::Present(l) = &mut inputs.rss {
            l.value.runs[0].growth_bytes = 90.0 * 1024.0 * 1024.0;
        }
        let t = render_memory(&inputs.rss);
        assert!(t.contains("| **no** |"), "{t}");
        assert!(t.contains("disagrees"), "{t}");
        assert_eq!(render_memory(&Input::Missing), not_measured(CMD_RSS));
    }

    #[test]
    fn targets_all_met_and_missed() {
        let inputs = full_inputs();
        let ts = targets(&inputs);
        assert_eq!(ts.len(), 7);
        let st: Vec<Status> = ts.iter().map(|t| t.status).collect();
        // 200 ≤ 250; 200/500 = 0.4 ≤ 0.5; 200/800 ≤ 1; 200/100 = 2 ≤ 2; 155000/200 = 775 ≥ 500;
        // axum 8.3 % ≤ 10 % (from CPU per request); 42 MiB ≤ 80 MiB.
        assert_eq!(st, vec![Status::Met; 7], "{ts:?}");
        assert_eq!(ts[3].measured, "×2.00 (200 ns vs 100 ns)");
        assert_eq!(
            ts[5].measured,
            "8.3 % (server CPU per request 10.90 µs vs 10.00 µs)"
        );

        let mut slow = full_inputs();
        slow.criterion
            .insert(HOT_1, "logiscout", Estimate::new(450.0, 400.0, 500.0));
        let ts = targets(&slow);
        let st: Vec<Status> = ts.iter().map(|t| t.status).collect();
        // 450 > 250; 450/500 = 0.9 > 0.5; 450/800 ≤ 1; 450/100 = 4.5 > 2; 155000/450 = 344 < 500.
        assert_eq!(
            st,
            vec![
                Status::Missed,
                Status::Missed,
                Status::Met,
                Status::Missed,
                Status::Missed,
                Status::Met,
                Status::Met
            ]
        );
        let table = render_targets(&ts);
        assert!(
            table.contains(
                "| logiscout hot path (1 thread) median ≤ 250 ns | 450 ns | **missed** |"
            ),
            "{table}"
        );
    }

    #[test]
    fn targets_not_measured() {
        let ts = targets(&Inputs::default());
        assert!(ts.iter().all(|t| t.status == Status::NotMeasured));
        let table = render_targets(&ts);
        assert_eq!(table.matches("| — | not measured |").count(), 7, "{table}");
        // Python present but no Rust figure: still not measured.
        let mut i = full_inputs();
        i.criterion = Criterion::default();
        assert_eq!(targets(&i)[4].status, Status::NotMeasured);
        // axum without a correlation variant: not measured.
        let mut i = full_inputs();
        if let Input::Present(l) = &mut i.http {
            l.value.results.retain(|r| r.variant != "CorrelationLayer");
        }
        assert_eq!(targets(&i)[5].status, Status::NotMeasured);
    }

    #[test]
    fn replaces_between_markers_only() {
        let doc = "# T\n\nprose\n<!-- generated:a -->\nold a\n<!-- /generated:a -->\nmiddle\n<!-- generated:b --><!-- /generated:b -->\nend\n";
        let out = replace_sections(doc, &[("b", "B!\n".into()), ("a", "A!".into())])
            .expect("markers present");
        assert_eq!(
            out,
            "# T\n\nprose\n<!-- generated:a -->\n\nA!\n\n<!-- /generated:a -->\nmiddle\n<!-- generated:b -->\n\nB!\n\n<!-- /generated:b -->\nend\n"
        );
        // Idempotent: replacing again with the same content gives the same document.
        let again = replace_sections(&out, &[("a", "A!".into()), ("b", "B!".into())])
            .expect("markers present");
        assert_eq!(again, out);
    }

    #[test]
    fn missing_markers_are_listed() {
        let doc = "<!-- generated:a -->x<!-- /generated:a -->\n<!-- generated:c -->\n<!-- /generated:d -->";
        let err = replace_sections(
            doc,
            &[
                ("a", String::new()),
                ("b", String::new()),
                ("c", String::new()),
                ("d", String::new()),
            ],
        )
        .expect_err("b, c and d are incomplete");
        assert!(
            err.contains("<!-- generated:b --> … <!-- /generated:b --> (both missing)"),
            "{err}"
        );
        assert!(err.contains("<!-- /generated:c --> (missing)"), "{err}");
        assert!(err.contains("<!-- generated:d --> (missing)"), "{err}");
        assert!(!err.contains("generated:a"), "{err}");
        let reversed = "<!-- /generated:a --> <!-- generated:a -->";
        assert!(replace_sections(reversed, &[("a", String::new())]).is_err());
        let twice =
            "<!-- generated:a --><!-- /generated:a --><!-- generated:a --><!-- /generated:a -->";
        assert!(replace_sections(twice, &[("a", String::new())]).is_err());
    }

    #[test]
    fn render_all_covers_every_marker_name() {
        let (sections, _) = render_all(&Machine::default(), &full_inputs());
        let names: Vec<&str> = sections.iter().map(|s| s.0).collect();
        assert_eq!(names, SECTION_NAMES);
        let (sections, _) = render_all(&Machine::default(), &Inputs::default());
        assert!(sections[0].1.contains("no input files found"));
        for (name, body) in &sections[1..8] {
            assert!(
                body.starts_with("_Not measured in this run: run `"),
                "{name}: {body}"
            );
        }
    }

    #[test]
    fn machine_section() {
        let m = Machine {
            cpu: Some("AMD EPYC".into()),
            cores: Some(2),
            mem_bytes: Some(24 * 1024 * 1024 * 1024),
            kernel: Some("6.1.0".into()),
            rustc: Some("rustc 1.95.0 (59807616e 2026-04-14)".into()),
            measured_at: Some(0),
        };
        let t = render_machine(&m);
        assert!(t.contains("| CPU | AMD EPYC, 2 logical CPUs |"), "{t}");
        assert!(t.contains("| memory | 24.0 GiB |"));
        assert!(t.contains("| compiler | `rustc 1.95.0 (59807616e 2026-04-14)`, release profile |"));
        assert!(t.contains("1970-01-01 00:00 UTC (newest input file)"));
        assert_eq!(
            m.one_line(),
            "AMD EPYC · 2 CPUs · 24.0 GiB RAM · Linux 6.1.0 · rustc 1.95.0 · 1970-01-01"
        );
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(1500.0), 500.0);
        assert_eq!(nice_step(1000.0), 200.0);
        assert_eq!(nice_step(120.0), 25.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn svg_chart() {
        let m = Machine {
            cpu: Some("AMD EPYC & co".into()),
            ..Default::default()
        };
        let svg = render_svg(&m, &hot_criterion()).expect("hot path measured");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("AMD EPYC &amp; co"), "subtitle is escaped");
        assert!(svg.contains("ns per call (median, lower is better)"));
        assert!(svg.contains(">200 ns<"), "value label on the logiscout bar");
        assert!(svg.contains(">1,500 ns<"));
        assert!(svg.contains(HIGHLIGHT));
        assert!(svg.contains("2 threads logging at once"));
        assert!(svg.contains(">120 ns (8.33 M/s)<"));
        assert_eq!(svg.matches("<rect x=").count(), 12, "6 bars per panel");
        // Bars scale linearly: env_logger (1,500 ns) is 7.5 × logiscout (200 ns).
        let width = |label: &str| -> f64 {
            let i = svg.find(&format!(">{label}</text>")).expect("label");
            let rest = &svg[i..];
            let w = rest.find("width=\"").expect("bar") + 7;
            rest[w..rest[w..].find('"').expect("quote") + w]
                .parse()
                .expect("number")
        };
        let ratio = width("env_logger") / width("logiscout");
        assert!((ratio - 7.5).abs() < 0.05, "{ratio}");
        assert!(render_svg(&m, &Criterion::default()).is_none());
        // One panel only when 2 threads is absent.
        let mut c = Criterion::default();
        c.insert(HOT_1, "logiscout", Estimate::new(200.0, 190.0, 210.0));
        let one = render_svg(&m, &c).expect("one bar");
        assert!(!one.contains("2 threads"));
    }

    #[test]
    fn loads_criterion_and_json_from_disk() {
        let dir = std::env::temp_dir().join(format!("bench_report_test_{}", std::process::id()));
        let est = dir.join("criterion/hot_path_1_thread/logiscout/new");
        std::fs::create_dir_all(&est).expect("temp dir");
        std::fs::write(
            est.join("estimates.json"),
            r#"{"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":190.0,"upper_bound":210.0},"point_estimate":200.0,"standard_error":1.0},"mean":{}}"#,
        )
        .expect("write");
        std::fs::write(
            est.join("benchmark.json"),
            r#"{"throughput":{"Elements":7}}"#,
        )
        .expect("write");
        let bad = dir.join("criterion/hot_path_1_thread/ftlog/new");
        std::fs::create_dir_all(&bad).expect("temp dir");
        std::fs::write(bad.join("estimates.json"), "{").expect("write");
        std::fs::create_dir_all(dir.join("bench-results")).expect("temp dir");
        std::fs::write(
            dir.join("bench-results/python.json"),
            r#"{"client":"c","ns_per_call":[3,1,2],"extra_field":true}"#,
        )
        .expect("write");
        std::fs::write(dir.join("bench-results/rss.json"), r#"{"runs": 5}"#).expect("write");
        let inputs = load_inputs(&dir);
        let b = inputs.criterion.bench(HOT_1, "logiscout").expect("loaded");
        assert_eq!(b.est, Estimate::new(200.0, 190.0, 210.0));
        assert_eq!(b.elements, Some(7.0));
        assert!(b.modified.is_some());
        assert_eq!(inputs.criterion.errors.len(), 1);
        let py = inputs.python.get().expect("python parsed");
        assert_eq!(py.value.ns(), Some(2.0), "median computed from the list");
        assert!(matches!(inputs.e2e, Input::Missing));
        assert!(matches!(inputs.rss, Input::Unreadable(_)));
        assert_eq!(inputs.problems().len(), 2);
        assert!(inputs.newest().is_some());
        std::fs::remove_dir_all(&dir).expect("clean temp dir");
    }

    #[test]
    fn the_axum_target_uses_cpu_per_request_and_falls_back_to_req_per_s() {
        let inputs = full_inputs();
        let axum = targets(&inputs)
            .into_iter()
            .find(|t| t.name.contains("CorrelationLayer"))
            .expect("axum target");
        // 1 - 10.0 / 10.9 = 8.3 %.
        assert!(axum.measured.starts_with("8.3 %"), "{}", axum.measured);
        assert!(
            axum.measured.contains("10.90 µs vs 10.00 µs"),
            "{}",
            axum.measured
        );
        assert_eq!(axum.status, Status::Met);
        let table = render_middleware(&inputs.http, &inputs.criterion);
        assert!(table.contains("| 10.90 µs | 8.3 % |"), "{table}");
        // Without CPU figures: the req/s medians (100 k vs 93 k = 7 %).
        let mut no_cpu = full_inputs();
        if let Input::Present(l) = &mut no_cpu.http {
            for r in &mut l.value.results {
                r.cpu_us_per_request.clear();
                r.median_cpu_us_per_request = None;
            }
        }
        let axum = targets(&no_cpu)
            .into_iter()
            .find(|t| t.name.contains("CorrelationLayer"))
            .expect("axum target");
        assert!(axum.measured.contains("req/s"), "{}", axum.measured);
    }
}
