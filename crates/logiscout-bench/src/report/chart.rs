//! `docs/hot-path.svg`: the hot-path chart, drawn with plotters' SVG backend.

use super::*;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// The image's width, px.
pub(super) const W: u32 = 860;
/// Where the bars start (the names are right-aligned before it), and the bars' full width.
pub(super) const LABEL_X: i32 = 220;
pub(super) const PLOT_W: i32 = 500;
/// One bar's row and the bar's height, px.
pub(super) const ROW: i32 = 30;
pub(super) const BAR_H: i32 = 20;
/// Below a panel's bars: the tick labels and the axis description, plotters' label area.
const X_LABELS_H: i32 = 40;
pub(super) const HIGHLIGHT: RGBColor = RGBColor(0xd9, 0x48, 0x0f);
pub(super) const OTHER: RGBColor = RGBColor(0x8f, 0xa3, 0xb8);
pub(super) const FLOOR: RGBColor = RGBColor(0xc9, 0xd3, 0xdd);
const INK: RGBColor = RGBColor(0x1f, 0x29, 0x33);
const MUTED: RGBColor = RGBColor(0x52, 0x60, 0x6d);
const BODY: RGBColor = RGBColor(0x32, 0x3f, 0x4b);
const FAINT: RGBColor = RGBColor(0x7b, 0x87, 0x94);
const GRID: RGBColor = RGBColor(0xe4, 0xe8, 0xec);
const AXIS: RGBColor = RGBColor(0x9a, 0xa5, 0xb1);
const SANS: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

/// A text style of `px` pixels: plotters' SVG backend writes `font-size` as the size given / 1.24.
fn text(px: f64, bold: bool, color: RGBColor) -> TextStyle<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    (SANS, px * 1.24, style).into_font().color(&color)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawError = DrawingAreaErrorKind<std::io::Error>;
/// A panel's chart: ns on x, rows (one data unit each, the first at the top) on y.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The scale of a chart: `0 ..= max` in steps of `step`, both "nice".
pub(super) fn axis_scale(bars: &[&Bar]) -> (f64, f64) {
    let max = bars
        .iter()
        .map(|b| b.est.median.max(b.est.upper))
        .fold(0.0, f64::max);
    let step = nice_step(max);
    (((max / step).ceil() * step).max(step), step)
}

/// The height of a panel of `bars` bars below its title's baseline: the bars' box, 14 px below the
/// baseline, then the ticks' labels and the axis description.
fn panel_height(bars: usize) -> i32 {
    14 + bars as i32 * ROW + 4 + 34
}

/// Draws one panel (title, bars with 95 % CI whiskers and value labels, ticks, axis label) with its
/// title's baseline at `y`; returns the y below it.
fn panel(
    root: &Area<'_>,
    y: i32,
    (title, axis_label): (&str, &str),
    bars: &[Bar],
    (axis_max, step): (f64, f64),
) -> Result<i32, DrawError> {
    root.draw(&Text::new(
        title.to_owned(),
        (24, y),
        text(15.0, true, INK).pos(Pos::new(HPos::Left, VPos::Bottom)),
    ))?;
    let top = y + 14;
    let bottom = top + bars.len() as i32 * ROW + 4;
    // The plotting area is exactly the bars' box: x from LABEL_X, 0 ..= axis_max over PLOT_W pixels
    // (plotters maps onto the area's first to last pixel, hence the one more); one data unit per row,
    // the first bar at the top.
    let area = root.clone().shrink(
        (LABEL_X, top),
        (PLOT_W as u32 + 1, (bottom - top + X_LABELS_H) as u32),
    );
    let rows = bars.len() as f64 + 4.0 / f64::from(ROW);
    // About one tick per `step` (plotters picks 1, 2 or 5 × 10ⁿ steps within that count).
    let ticks = (axis_max / step).round() as usize + 1;
    let mut chart = ChartBuilder::on(&area)
        .set_label_area_size(LabelAreaPosition::Bottom, X_LABELS_H as u32)
        .build_cartesian_2d(0f64..axis_max, rows..0f64)?;
    let tick_label = |t: &f64| fmt_num((t * 1e6).round() / 1e6);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(ticks)
        .x_label_formatter(&tick_label)
        .x_label_style(text(11.0, false, MUTED))
        .x_desc(axis_label)
        .axis_desc_style(text(12.0, false, BODY))
        .bold_line_style(GRID.stroke_width(1))
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS.stroke_width(1))
        .draw()?;

    for (i, b) in bars.iter().enumerate() {
        bar_row(&mut chart, i as f64, b, axis_max)?;
    }
    Ok(y + panel_height(bars.len()))
}

/// One row of a panel: the name (bold for logiscout), the bar at its median, the whisker of its 95 %
/// confidence interval, and the value label; `row` 0 is the top one.
fn bar_row(chart: &mut Chart<'_, '_>, row: f64, b: &Bar, axis_max: f64) -> Result<(), DrawError> {
    let bar_top = f64::from(ROW - BAR_H) / 2.0 / f64::from(ROW);
    let px = 1.0 / f64::from(ROW);
    let centre = row + 0.5;
    let is_ls = b.name == "logiscout";
    let fill = if is_ls {
        HIGHLIGHT
    } else if b.name == "floor_queue" || b.name == "facade_floor" {
        FLOOR
    } else {
        OTHER
    };
    let name = text(13.0, is_ls, INK).pos(Pos::new(HPos::Right, VPos::Center));
    chart.draw_series([
        EmptyElement::at((0.0, centre)) + Text::new(display_name(&b.name), (-10, 0), name)
    ])?;
    chart.draw_series([Rectangle::new(
        [
            (0.0, row + bar_top),
            (b.est.median.max(0.0), row + 1.0 - bar_top),
        ],
        fill.filled(),
    )])?;
    // 95 % confidence interval of the median, as a whisker.
    let (lo, hi) = (b.est.lower.max(0.0), b.est.upper.max(0.0));
    if (hi - lo) / axis_max * f64::from(PLOT_W) >= 1.0 {
        let (up, down) = (centre - 4.0 * px, centre + 4.0 * px);
        chart.draw_series([PathElement::new(
            [
                (lo, up),
                (lo, down),
                (lo, centre),
                (hi, centre),
                (hi, up),
                (hi, down),
            ],
            BODY.stroke_width(1),
        )])?;
    }
    let value = text(12.0, is_ls, if is_ls { HIGHLIGHT } else { BODY })
        .pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series([EmptyElement::at((b.est.median.max(hi), centre))
        + Text::new(b.label.clone(), (6, 0), value)])?;
    Ok(())
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

    let mut h = 90 + panel_height(bars1.len());
    if !bars2.is_empty() {
        h += 44 + panel_height(bars2.len());
    }
    h += 32 + 18;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, h as u32)).into_drawing_area();
        // The backend's only errors are I/O ones, and a String target has none.
        draw(&root, machine, (&bars1, &bars2), scale).ok()?;
    }
    Some(svg)
}

/// The whole chart on `root`: title, machine line, the panels, the footnote.
fn draw(
    root: &Area<'_>,
    machine: &Machine,
    (bars1, bars2): (&[Bar], &[Bar]),
    scale: (f64, f64),
) -> Result<(), DrawError> {
    root.fill(&WHITE)?;
    let left = Pos::new(HPos::Left, VPos::Bottom);
    root.draw(&Text::new(
        "Hot path: one log::info! call, per logger",
        (24, 32),
        text(20.0, true, INK).pos(left),
    ))?;
    root.draw(&Text::new(
        machine.one_line(),
        (24, 54),
        text(12.0, false, MUTED).pos(left),
    ))?;
    let mut y = panel(
        root,
        90,
        (
            "1 thread: time per call",
            "ns per call (median, lower is better)",
        ),
        bars1,
        scale,
    )?;
    if !bars2.is_empty() {
        y = panel(
            root,
            y + 44,
            (
                "2 threads logging at once: wall time per call (aggregate calls/s)",
                "ns per call, wall time = 1 / aggregate throughput (median, lower is better)",
            ),
            bars2,
            scale,
        )?;
    }
    root.draw(&Text::new(
        "Criterion medians; whiskers: 95 % confidence interval of the median. Every logger logs the same \
         record: a 20-byte message and 3 key-values.",
        (24, y + 32),
        text(11.0, false, FAINT).pos(left),
    ))?;
    root.present()
}
