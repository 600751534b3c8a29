//! One markdown section per measurement (pure functions of the inputs).

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a logger (criterion function id) is shown.
pub fn display_name(function: &str) -> String {
    match function {
        "logiscout" => "logiscout".into(),
        "env_logger" => "env_logger".into(),
        "tracing_json_nonblocking" => "tracing JSON, non-blocking".into(),
        "opentelemetry_batch" => "OpenTelemetry batch".into(),
        "ftlog" => "ftlog (prints no key-values)".into(),
        "facade_floor" => "facade floor: log facade only".into(),
        "floor_queue" => "floor: bare queue".into(),
        other => other.into(),
    }
}

pub(super) fn logger_cell(function: &str) -> String {
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

pub(super) fn unreadable_note<T>(input: &Input<T>, command: &str) -> String {
    match input {
        Input::Unreadable(msg) => format!(
            "_Not measured in this run: the input could not be read ({}); run `{command}`._\n",
            md_escape(msg)
        ),
        _ => not_measured(command),
    }
}

pub(super) fn source_note(source: &str, modified: Option<u64>) -> String {
    match modified {
        Some(t) => format!("_Source: `{source}`, written {}._\n", utc_datetime(t)),
        None => format!("_Source: `{source}`._\n"),
    }
}

pub(super) fn sorted_benches(group: &BTreeMap<String, Bench>) -> Vec<(&str, &Bench)> {
    let mut v: Vec<(&str, &Bench)> = group.iter().map(|(k, b)| (k.as_str(), b)).collect();
    v.sort_by(|a, b| a.1.est.median.total_cmp(&b.1.est.median));
    v
}

pub(super) fn absent_loggers(group: &BTreeMap<String, Bench>) -> String {
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

pub(super) fn ci(e: &Estimate) -> String {
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

pub(super) fn http_baselines(h: &Http) -> BTreeMap<&str, &HttpResult> {
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
