//! What the measurement binaries that re-run themselves, one child process per measured run (`e2e`,
//! `otlp_compare`; a process can install one `log` logger only), share: the exit status, the flags'
//! counts, running a child and reading the JSON line it prints, the burst every child logs with
//! logiscout's queue sized to hold it, per-thread CPU time, and medians.

use std::collections::HashMap;
use std::process::{Command, ExitCode, Stdio};

use serde::de::DeserializeOwned;

/// The binary's exit status: success, or `tool: error` on standard error and failure.
pub fn exit(tool: &str, outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the parent's flags: `-h`/`--help` prints `usage` and stops (`Ok(false)`: nothing to run);
/// every other flag goes to `flag(name, value)`, which takes the flag's value from `value()` when it
/// has one and returns whether it knows the flag. Errors (an unknown flag, a missing or bad value) end
/// with `usage`. Before a run (`Ok(true)`), warns on standard error, as `tool`, when this is a debug
/// build.
pub fn parent_flags<'a>(
    tool: &str,
    args: &'a [String],
    usage: &str,
    mut flag: impl FnMut(&str, &mut dyn FnMut() -> Result<&'a str, String>) -> Result<bool, String>,
) -> Result<bool, String> {
    let mut it = args.iter();
    while let Some(name) = it.next() {
        if name == "-h" || name == "--help" {
            println!("{usage}");
            return Ok(false);
        }
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{name} needs a value\n{usage}"))
        };
        if !flag(name, &mut value)? {
            return Err(format!("unknown argument `{name}`\n{usage}"));
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("{tool}: warning: a debug build; run with --release for figures worth keeping");
    }
    Ok(true)
}

/// A positive whole number (`_` allowed as a separator) given to `flag`.
pub fn parse_count(flag: &str, value: &str) -> Result<u64, String> {
    match value.replace('_', "").parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "{flag} takes a positive whole number, not `{value}`"
        )),
    }
}

/// The median (the mean of the two middle values for an even count); `xs` must not be empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs this executable again with `args` (standard error inherited), without the environment
/// variables `drop_env` names, and parses the JSON line it prints last.
pub fn run_self<T: DeserializeOwned>(
    args: &[String],
    drop_env: impl Fn(&str) -> bool,
) -> Result<T, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let mut command = Command::new(&exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    for (name, _) in std::env::vars_os() {
        if drop_env(&name.to_string_lossy()) {
            command.env_remove(&name);
        }
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the child process ({} {}) failed: {}",
            exe.display(),
            args.join(" "),
            output.status
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).map_err(|e| format!("the child printed no result ({e}): {stdout:?}"))
}

/// logiscout for a measured burst of `logs` records to `endpoint`: `Env::Prod` as `service`, console
/// off, `RUST_LOG` ignored, filter `info`, and the hand-off queue and byte cap raised to hold the whole
/// burst (`max_queue_logs` N, `max_buffer_bytes` N KiB; the defaults, 20,000 records and 32 MiB, would
/// drop most of a 200,000-record burst, and a figure reached by dropping records is worthless).
pub fn burst_config(
    service: &str,
    endpoint: impl Into<String>,
    logs: u64,
) -> Result<logiscout::Config, String> {
    let queue = usize::try_from(logs).map_err(|_| "too many logs".to_owned())?;
    Ok(logiscout::Config::new(service)
        .env(logiscout::Env::Prod)
        .endpoint(endpoint)
        .console(logiscout::Console::Off)
        .read_rust_log(false)
        .filter("info")
        .max_queue_logs(queue.max(20_000))
        .max_buffer_bytes((queue * 1024).max(32 << 20)))
}

/// Logs the benchmark record `logs` times from this thread, as fast as it can:
/// `log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!")`.
pub fn log_burst(logs: u64) {
    for i in 0..logs {
        log::info!(user_id = i, ratio = 0.25, region = "eu-west-1"; "Order created okay!!");
    }
}

/// CPU time per thread of this process at one moment, from `/proc/self/task/*/schedstat` (Linux).
#[derive(Debug, Clone, Default)]
pub struct ThreadCpu {
    /// tid -> (thread name, ns on CPU).
    threads: HashMap<String, (String, u64)>,
}

impl ThreadCpu {
    /// The threads now; `None` where that is not available (not Linux, or no schedstat).
    pub fn now() -> Option<ThreadCpu> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = entry.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let Ok(schedstat) = std::fs::read_to_string(dir.join("schedstat")) else {
                continue; // the thread has just ended
            };
            let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            let tid = dir.file_name()?.to_string_lossy().into_owned();
            threads.insert(tid, (comm.trim().to_owned(), ns));
        }
        Some(ThreadCpu { threads })
    }

    /// CPU seconds between `before` and `after` of the threads `keep(tid, name)` picks (a thread
    /// started since counts from 0); `None` when either snapshot is missing. Names are cut to 15 bytes
    /// by `/proc`: "logiscout-worker" is "logiscout-worke".
    pub fn seconds(
        before: Option<&ThreadCpu>,
        after: Option<&ThreadCpu>,
        keep: impl Fn(&str, &str) -> bool,
    ) -> Option<f64> {
        let (before, after) = (before?, after?);
        let ns: u64 = after
            .threads
            .iter()
            .filter(|(tid, (name, _))| keep(tid, name))
            .map(|(tid, (_, end))| {
                end.saturating_sub(before.threads.get(tid).map_or(0, |(_, ns)| *ns))
            })
            .sum();
        Some(ns as f64 / 1e9)
    }

    /// The main thread's tid (the process ID), as `keep`'s `tid` names it.
    pub fn main_tid() -> String {
        std::process::id().to_string()
    }
}
