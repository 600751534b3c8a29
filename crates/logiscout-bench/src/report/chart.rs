//! `docs/hot-path.svg`: the hot-path chart.

use super::*;
use std::fmt::Write as _;

pub(super) fn xml_escape(s: &str) -> String {
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

pub(super) struct Bar {
    pub(super) name: String,
    pub(super) est: Estimate,
    pub(super) label: String,
}

pub(super) const W: f64 = 860.0;
pub(super) const LABEL_X: f64 = 220.0;
pub(super) const PLOT_W: f64 = 500.0;
pub(super) const ROW: f64 = 30.0;
pub(super) const BAR_H: f64 = 20.0;
pub(super) const HIGHLIGHT: &str = "#d9480f";
pub(super) const OTHER: &str = "#8fa3b8";
pub(super) const FLOOR: &str = "#c9d3dd";

/// The scale of a chart: `0 ..= max` in steps of `step`, both "nice".
pub(super) fn axis_scale(bars: &[&Bar]) -> (f64, f64) {
    let max = bars
        .iter()
        .map(|b| b.est.median.max(b.est.upper))
        .fold(0.0, f64::max);
    let step = nice_step(max);
    (((max / step).ceil() * step).max(step), step)
}

/// Draws one panel (title, bars, ticks, axis label) with its title's baseline at `y`; returns the y
/// below it.
pub(super) fn panel(
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
