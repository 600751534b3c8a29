//! The targets table: each target checked against the inputs.

use super::*;
use std::fmt::Write as _;

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

pub(super) fn target(name: &str, measured: Option<(String, bool)>) -> Target {
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
    // Issue 18's time target, and what it asks of any `log` backend: the facade floor is the least one
    // does (`benches/hot_facade_floor.rs`), against the same floor.
    out.push(target(
        "issue 18: logiscout ≤ 1.0 × the floor (`floor_queue`)",
        vs("floor_queue", 1.0),
    ));
    let facade = || -> Option<(String, bool)> {
        let f = c.bench(HOT_1, "facade_floor")?.est.median;
        let p = c.bench(HOT_1, "floor_queue")?.est.median;
        if p <= 0.0 {
            return None;
        }
        let r = f / p;
        Some((
            format!("{} ({} vs {})", fmt_ratio(r), fmt_ns(f), fmt_ns(p)),
            r <= 1.0,
        ))
    };
    out.push(target(
        "the same for any `log` backend: the facade floor (`facade_floor`) ≤ 1.0 × the floor",
        facade(),
    ));
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
