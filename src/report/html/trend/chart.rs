//! One latency chart as hand-written SVG: a frame with y ticks, one
//! `<path>` per series, SLO lines, regression marks and, while runs are few
//! enough, a hover column per run.

use std::fmt::Write as _;

use super::layout::{C, CHAR_W, Scale, label_room, tick_label, x_labels, x_ticks};
use super::strip::run_tip;
use super::{SloLine, TrendRun, t};

/// Beyond this many runs, per-run hover columns would cost more bytes than
/// they are worth (a column is a few pixels wide anyway).
const HOVER_MAX_RUNS: usize = 120;
/// Up to this many runs every point gets a dot; beyond, dots would merge
/// into a smear and only isolated points (between gaps) get one.
const DOTS_MAX_RUNS: usize = 60;

/// A latency worth drawing: non-finite or negative values are dropped
/// rather than bending an axis to infinity.
pub(super) fn fin(v: f64) -> Option<f64> {
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// One line of a chart; `class` picks its colour.
pub(super) struct Line<'a> {
    pub(super) key: &'a str,
    pub(super) class: &'a str,
    pub(super) values: Vec<Option<f64>>,
}

pub(super) struct Chart<'a> {
    pub(super) w: f64,
    pub(super) h: f64,
    pub(super) runs: &'a [TrendRun],
    pub(super) lines: Vec<Line<'a>>,
    pub(super) slo: &'a [SloLine],
    /// Per run; shorter than `runs` means "not regressed".
    pub(super) regressed: Vec<bool>,
    /// Indices into `lines` that get a ring at regressed runs.
    pub(super) ringed: &'a [usize],
    /// Per run, for verify steps; failures with no latency sit on the axis.
    pub(super) failed: Vec<bool>,
    pub(super) legend: bool,
    /// Extra tooltip lines for run `i`.
    pub(super) tip: &'a dyn Fn(usize) -> String,
}

/// Colour classes of an SLO label's percentile: the dashed line takes the
/// colour of the series it bounds.
fn slo_classes(label: &str) -> (&'static str, &'static str) {
    let l = label.trim_start().to_ascii_lowercase();
    if l.starts_with("p50") {
        ("p50", "t50")
    } else if l.starts_with("p95") {
        ("p95", "t95")
    } else if l.starts_with("p99") {
        ("p99", "t99")
    } else {
        ("oth", "toth")
    }
}

impl Chart<'_> {
    fn failed_at(&self, i: usize) -> bool {
        self.failed.get(i).copied().unwrap_or(false)
    }

    fn regressed_at(&self, i: usize) -> bool {
        self.regressed.get(i).copied().unwrap_or(false)
    }
}

impl Line<'_> {
    fn at(&self, i: usize) -> Option<f64> {
        self.values.get(i).copied().flatten()
    }
}

/// Where one chart's parts go, worked out once so the drawing steps below
/// agree on every coordinate.
struct Frame {
    n: usize,
    /// Height of the whole SVG: rotated x labels need more room.
    h: f64,
    left: f64,
    top: f64,
    /// Plot width and height.
    pw: f64,
    ph: f64,
    /// The plot's bottom edge, where the x axis runs.
    base: f64,
    /// Width of one run's column.
    band: f64,
    scale: Scale,
    /// Runs that get an x label, and whether the labels are rotated.
    picked: Vec<usize>,
    rotated: bool,
}

impl Frame {
    fn fit(c: &Chart<'_>, on_scale: &[(&SloLine, f64)]) -> Frame {
        let n = c.runs.len();
        let scale = Scale::fit(
            c.lines
                .iter()
                .flat_map(|l| l.values.iter().take(n).flatten().copied())
                .chain(on_scale.iter().map(|(_, v)| *v)),
        );
        let (left, right) = (54.0, 14.0);
        let top = if c.legend { 30.0 } else { 22.0 };
        let pw = c.w - left - right;
        let band = pw / n as f64;
        let (picked, rotated, widest) = x_ticks(c.runs, band, if c.legend { 24.0 } else { 30.0 });
        let bottom = label_room(rotated, widest);
        let h = c.h + if rotated { bottom - 22.0 } else { 0.0 };
        let ph = h - top - bottom;
        Frame {
            n,
            h,
            left,
            top,
            pw,
            ph,
            base: top + ph,
            band,
            scale,
            picked,
            rotated,
        }
    }

    fn x(&self, i: usize) -> f64 {
        self.left + (i as f64 + 0.5) * self.band
    }

    fn y(&self, v: f64) -> f64 {
        self.base - self.ph * self.scale.frac(v).clamp(0.0, 1.0)
    }
}

/// The chart as an `<svg>` string, or `None` when there is nothing to draw.
pub(super) fn chart(c: &Chart<'_>) -> Option<String> {
    let n = c.runs.len();
    let data_max = c
        .lines
        .iter()
        .flat_map(|l| l.values.iter().take(n).flatten().copied())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    if n == 0 || (data_max.is_none() && !(0..n).any(|i| c.failed_at(i))) {
        return None;
    }
    // A threshold far above every value would squash the lines into the
    // bottom of the plot; it is named at the top edge instead.
    let mut on_scale = Vec::new();
    let mut off_scale = Vec::new();
    for s in c.slo {
        if let Some(v) = fin(s.threshold_ms) {
            match data_max {
                Some(m) if v > 3.0 * m => off_scale.push(s),
                _ => on_scale.push((s, v)),
            }
        }
    }
    let f = Frame::fit(c, &on_scale);

    let mut o = String::with_capacity(2048 + n * 40 * c.lines.len());
    let dense = if n > 200 { " class=\"dense\"" } else { "" };
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\"{dense} viewBox=\"0 0 {} {}\" role=\"img\">",
        C(c.w),
        C(f.h)
    );
    y_grid(&mut o, &f);
    regression_bands(&mut o, c, &f);
    slo_lines(&mut o, &on_scale, &f);
    series(&mut o, c, &f);
    slo_labels(&mut o, &on_scale, &off_scale, &f);
    x_axis(&mut o, c, &f);
    failures(&mut o, c, &f);
    // Hover columns: a tooltip per run where they are wide enough to aim at.
    if n <= HOVER_MAX_RUNS {
        hover_columns(&mut o, c, &f);
    }
    if c.legend {
        legend(
            &mut o,
            c,
            f.left,
            !on_scale.is_empty(),
            (0..n).any(|i| c.regressed_at(i)),
        );
    }
    o.push_str("</svg>");
    Some(o)
}

/// Grid and y ticks, with the unit above them.
fn y_grid(o: &mut String, f: &Frame) {
    o.push_str("<path class=\"grid\" d=\"");
    let ticks = f.scale.ticks();
    for &v in &ticks {
        let _ = write!(o, "M{},{}H{}", C(f.left), C(f.y(v)), C(f.left + f.pw));
    }
    o.push_str("\"/>");
    for &v in &ticks {
        let _ = write!(
            o,
            "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            C(f.left - 6.0),
            C(f.y(v) + 4.0),
            tick_label(v)
        );
    }
    let unit = if matches!(f.scale, Scale::Log { .. }) {
        "ms (log)"
    } else {
        "ms"
    };
    let _ = write!(
        o,
        "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{unit}</text>",
        C(f.left - 6.0),
        C(f.top - 10.0)
    );
}

/// Regression bands, drawn first so they sit behind everything else.
fn regression_bands(o: &mut String, c: &Chart<'_>, f: &Frame) {
    let band_w = f.band.max(3.0);
    for i in (0..f.n).filter(|&i| c.regressed_at(i)) {
        let _ = write!(
            o,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            C(f.x(i) - band_w / 2.0),
            C(f.top),
            C(band_w),
            C(f.ph)
        );
    }
}

fn slo_lines(o: &mut String, on_scale: &[(&SloLine, f64)], f: &Frame) {
    for (s, v) in on_scale {
        let (cls, _) = slo_classes(&s.label);
        let _ = write!(
            o,
            "<path class=\"slo {cls}\" d=\"M{},{}H{}\"/>",
            C(f.left),
            C(f.y(*v)),
            C(f.left + f.pw)
        );
    }
}

/// One path per line, gaps start a new subpath; then rings on the
/// regressed runs' bounded percentiles.
fn series(o: &mut String, c: &Chart<'_>, f: &Frame) {
    let all_dots = f.n <= DOTS_MAX_RUNS;
    let (x, y) = (|i: usize| f.x(i), |v: f64| f.y(v));
    for l in &c.lines {
        let (line, dots) = series_path(f.n, |i| l.at(i), &x, &y, all_dots);
        if !line.is_empty() {
            let _ = write!(o, "<path class=\"ln {}\" d=\"{line}\"/>", l.class);
        }
        if !dots.is_empty() {
            let _ = write!(o, "<path class=\"dt {}\" d=\"{dots}\"/>", l.class);
        }
    }
    for i in (0..f.n).filter(|&i| c.regressed_at(i)) {
        for l in c.ringed.iter().filter_map(|&k| c.lines.get(k)) {
            if let Some(v) = l.at(i) {
                let _ = write!(
                    o,
                    "<circle class=\"ring\" cx=\"{}\" cy=\"{}\" r=\"5.5\"/>",
                    C(f.x(i)),
                    C(f.y(v))
                );
            }
        }
    }
}

/// SLO labels over the lines, nudged apart when thresholds are close, and
/// the names of those too far above the data to draw.
fn slo_labels(o: &mut String, on_scale: &[(&SloLine, f64)], off_scale: &[&SloLine], f: &Frame) {
    let mut labels: Vec<(f64, &SloLine)> = on_scale.iter().map(|(s, v)| (f.y(*v), *s)).collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut last = f64::NEG_INFINITY;
    for (py, s) in labels {
        let ly = (py - 4.0).max(last + 12.0).max(f.top + 10.0);
        last = ly;
        let (_, tcls) = slo_classes(&s.label);
        let _ = write!(
            o,
            "<text class=\"slo-t {tcls}\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            C(f.left + f.pw - 4.0),
            C(ly),
            t(&s.label)
        );
    }
    if !off_scale.is_empty() {
        let names: Vec<String> = off_scale.iter().map(|s| t(&s.label)).collect();
        let _ = write!(
            o,
            "<text class=\"slo-t toth\" x=\"{}\" y=\"{}\" text-anchor=\"end\">↑ {} (far above)</text>",
            C(f.left + f.pw - 4.0),
            C(f.top + 10.0),
            names.join(", ")
        );
    }
}

/// Axes and x labels.
fn x_axis(o: &mut String, c: &Chart<'_>, f: &Frame) {
    let _ = write!(
        o,
        "<path class=\"axis\" d=\"M{},{}V{}H{}\"/>",
        C(f.left),
        C(f.top),
        C(f.base),
        C(f.left + f.pw)
    );
    o.push_str("<path class=\"axis\" d=\"");
    for &i in &f.picked {
        let _ = write!(o, "M{},{}v4", C(f.x(i)), C(f.base));
    }
    o.push_str("\"/>");
    x_labels(o, c.runs, &f.picked, f.rotated, |i| f.x(i), f.base, c.w);
}

/// Failed verify steps: one path of dots, over the axis
/// they sit on when the step got no response.
fn failures(o: &mut String, c: &Chart<'_>, f: &Frame) {
    let mut fails = String::new();
    for i in (0..f.n).filter(|&i| c.failed_at(i)) {
        let py = c
            .lines
            .first()
            .and_then(|l| l.at(i))
            .map_or(f.base, |v| f.y(v));
        let _ = write!(fails, "M{},{}h0", C(f.x(i)), C(py));
    }
    if !fails.is_empty() {
        let _ = write!(o, "<path class=\"fl\" d=\"{fails}\"/>");
    }
}

fn hover_columns(o: &mut String, c: &Chart<'_>, f: &Frame) {
    for (i, run) in c.runs.iter().enumerate() {
        let _ = write!(
            o,
            "<rect class=\"hov\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}\n{}</title></rect>",
            C(f.left + i as f64 * f.band),
            C(f.top),
            C(f.band),
            C(f.ph),
            t(&run_tip(run)),
            t(&(c.tip)(i))
        );
    }
}

fn legend(o: &mut String, c: &Chart<'_>, left: f64, slo: bool, regressed: bool) {
    let y = 14.0;
    let mut px = left;
    for l in &c.lines {
        let _ = write!(
            o,
            "<path class=\"ln {}\" d=\"M{},{}h16\"/><text class=\"lg\" x=\"{}\" y=\"{}\">{}</text>",
            l.class,
            C(px),
            C(y),
            C(px + 21.0),
            C(y + 4.0),
            t(l.key)
        );
        px += 32.0 + l.key.chars().count() as f64 * CHAR_W;
    }
    if slo {
        let _ = write!(
            o,
            "<path class=\"slo oth\" d=\"M{},{}h18\"/><text class=\"lg\" x=\"{}\" y=\"{}\">SLO</text>",
            C(px),
            C(y),
            C(px + 23.0),
            C(y + 4.0)
        );
        px += 56.0;
    }
    if regressed {
        let _ = write!(
            o,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"12\" height=\"14\"/><circle class=\"ring\" cx=\"{}\" cy=\"{}\" r=\"4\"/><text class=\"lg\" x=\"{}\" y=\"{}\">regressed</text>",
            C(px),
            C(y - 7.0),
            C(px + 6.0),
            C(y),
            C(px + 18.0),
            C(y + 4.0)
        );
    }
}

/// A series as path data: segments between gaps, plus dots where a point
/// has no neighbour to join (or on every point when runs are few).
fn series_path(
    n: usize,
    value: impl Fn(usize) -> Option<f64>,
    x: &impl Fn(usize) -> f64,
    y: &impl Fn(f64) -> f64,
    all_dots: bool,
) -> (String, String) {
    let (mut line, mut dots) = (String::new(), String::new());
    let mut pending: Option<(f64, f64)> = None;
    let mut seg_len = 0usize;
    let flush = |pending: Option<(f64, f64)>, seg_len: usize, dots: &mut String| {
        if let (1, Some((px, py)), false) = (seg_len, pending, all_dots) {
            let _ = write!(dots, "M{},{}h0", C(px), C(py));
        }
    };
    for i in 0..n {
        match value(i) {
            Some(v) => {
                let p = (x(i), y(v));
                match seg_len {
                    0 => pending = Some(p),
                    1 => {
                        let (px, py) = pending.unwrap_or(p);
                        let _ = write!(line, "M{},{}L{},{}", C(px), C(py), C(p.0), C(p.1));
                    }
                    _ => {
                        let _ = write!(line, " {},{}", C(p.0), C(p.1));
                    }
                }
                seg_len += 1;
                if all_dots {
                    let _ = write!(dots, "M{},{}h0", C(p.0), C(p.1));
                }
            }
            None => {
                flush(pending, seg_len, &mut dots);
                pending = None;
                seg_len = 0;
            }
        }
    }
    flush(pending, seg_len, &mut dots);
    (line, dots)
}
