//! The machine the figures were measured on, and dates.

use super::*;
use std::time::{SystemTime, UNIX_EPOCH};

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
    utc(secs, "%Y-%m-%d %H:%M UTC")
}

/// `2026-11-25`.
pub fn utc_date(secs: u64) -> String {
    utc(secs, "%Y-%m-%d")
}

/// Seconds since the Unix epoch, in UTC, by jiff (clamped to its range).
fn utc(secs: u64, format: &str) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let ts = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::MAX);
    ts.strftime(format).to_string()
}

/// Now, seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
