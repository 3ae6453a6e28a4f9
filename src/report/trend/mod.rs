//! `history trend`: one self-contained page (inline CSS and SVG, no script,
//! no font or CDN) showing how latency and verdicts moved across deploys.
//!
//! The SVG is written by hand rather than through plotters: a 1,000-run
//! history puts thousands of points in every chart, and one `<path>` per
//! series (no per-point elements) keeps the page small, byte-for-byte
//! deterministic and quick to build. The look (colours, fonts, cards) is
//! report.html's, whose stylesheet this page includes.
//!
//! Y axes are linear from zero unless a chart's values span more than two
//! decades; then they are log10, because one cold-start outlier on a linear
//! axis would flatten every other run into the bottom pixels.

use std::fmt::Write as _;

use super::load::html::{CSS, esc};
use super::xml_safe;
use crate::verdict::slo::num;

mod layout;
mod model;
mod strip;

use layout::{C, CHAR_W, Scale, label_room, tick_label, x_labels, x_ticks};
pub use model::{
    LoadGroup, Percentiles, RequestTrend, RunVerdict, SloLine, StepPoint, StepTrend, TrendPage,
    TrendRun, VerifyTrend,
};
use strip::{run_tip, strip_card};

/// Chart sizes in SVG units: the viewBox is scaled to the card, and these
/// match the card's usual on-screen width so text stays ~1:1.
const CHART_W: f64 = 660.0;
const CHART_H: f64 = 300.0;
const SMALL_W: f64 = 420.0;
const SMALL_H: f64 = 170.0;
/// Beyond this many runs, per-run hover columns would cost more bytes than
/// they are worth (a column is a few pixels wide anyway).
const HOVER_MAX_RUNS: usize = 120;
/// Up to this many runs every point gets a dot; beyond, dots would merge
/// into a smear and only isolated points (between gaps) get one.
const DOTS_MAX_RUNS: usize = 60;

const TREND_CSS: &str = r#"
.kicker { font-size:11px; text-transform:uppercase; letter-spacing:.07em; color:var(--muted); font-weight:700; display:block; margin-bottom:2px; }
section.group { margin-top:30px; }
section.group h2 { margin-top:0; font-weight:600; word-break:break-word; }
.sub { margin:-4px 0 12px; }
.card.strip { margin-bottom:16px; }
.strip svg, .multiples svg { width:100%; height:auto; display:block; }
.strip .scroll { overflow-x:auto; } .strip .scroll svg { min-width:960px; }
.multiples { display:grid; grid-template-columns:repeat(auto-fill,minmax(400px,1fr)); gap:16px; }
h3 .latest { font-weight:400; float:right; font-variant-numeric:tabular-nums; }
.key { font-size:12px; color:var(--muted); margin-top:6px; }
.key i { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 4px 0 12px; vertical-align:-1px; }
.key i:first-child { margin-left:0; }
svg .tk { font-size:11px; fill:#6b7280; }
svg .lg { font-size:12px; fill:#1d2330; }
svg .grid { fill:none; stroke:#eef0f3; stroke-width:1; }
svg .axis { fill:none; stroke:#c4c9d0; stroke-width:1; }
svg path.ln { fill:none; stroke-width:2; stroke-linejoin:round; stroke-linecap:round; }
svg.dense path.ln { stroke-width:1.2; }
svg path.dt { fill:none; stroke-width:5; stroke-linecap:round; }
svg .p50 { stroke:#2ca02c; } svg .p95 { stroke:#ff7f0e; } svg .p99 { stroke:#d62728; } svg .lat { stroke:#1f77b4; } svg .oth { stroke:#6b7280; }
svg .slo { fill:none; stroke-width:1.4; stroke-dasharray:6 4; }
svg .slo-t { font-size:11px; font-weight:600; paint-order:stroke; stroke:#fff; stroke-width:3px; stroke-linejoin:round; }
svg .t50 { fill:#15803d; } svg .t95 { fill:#c2410c; } svg .t99 { fill:#b91c1c; } svg .toth { fill:#4b5563; }
svg .band { fill:#fee2e2; }
svg .ring { fill:none; stroke:#b91c1c; stroke-width:2; }
svg .fl { fill:none; stroke:#b91c1c; stroke-width:7; stroke-linecap:round; }
svg .hov { fill:transparent; } svg .hov:hover { fill:rgba(29,35,48,.07); }
.v-pass { fill:#15803d; background:#15803d; } .v-fail { fill:#b91c1c; background:#b91c1c; }
.v-regr { fill:#ea580c; background:#ea580c; } .v-intr { fill:#9ca3af; background:#9ca3af; }
svg .mark { fill:#b91c1c; }
"#;

/// User-supplied text (names come from scenario files): escaped for HTML
/// and stripped of what XML cannot carry, since inline SVG is XML to some
/// readers.
fn t(s: &str) -> String {
    esc(&xml_safe(s))
}

/// A latency worth drawing: non-finite or negative values are dropped
/// rather than bending an axis to infinity.
fn fin(v: f64) -> Option<f64> {
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// One line of a chart; `class` picks its colour.
struct Line<'a> {
    key: &'a str,
    class: &'a str,
    values: Vec<Option<f64>>,
}

struct Chart<'a> {
    w: f64,
    h: f64,
    runs: &'a [TrendRun],
    lines: Vec<Line<'a>>,
    slo: &'a [SloLine],
    /// Per run; shorter than `runs` means "not regressed".
    regressed: Vec<bool>,
    /// Indices into `lines` that get a ring at regressed runs.
    ringed: &'a [usize],
    /// Per run, for verify steps; failures with no latency sit on the axis.
    failed: Vec<bool>,
    legend: bool,
    /// Extra tooltip lines for run `i`.
    tip: &'a dyn Fn(usize) -> String,
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

/// The chart as an `<svg>` string, or `None` when there is nothing to draw.
fn chart(c: &Chart<'_>) -> Option<String> {
    let n = c.runs.len();
    let failed = |i: usize| c.failed.get(i).copied().unwrap_or(false);
    let regressed = |i: usize| c.regressed.get(i).copied().unwrap_or(false);
    let value = |l: &Line<'_>, i: usize| l.values.get(i).copied().flatten();
    let data_max = c
        .lines
        .iter()
        .flat_map(|l| l.values.iter().take(n).flatten().copied())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    if n == 0 || (data_max.is_none() && !(0..n).any(failed)) {
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
    let base = top + ph;
    let x = |i: usize| left + (i as f64 + 0.5) * band;
    let y = |v: f64| base - ph * scale.frac(v).clamp(0.0, 1.0);

    let mut o = String::with_capacity(2048 + n * 40 * c.lines.len());
    let dense = if n > 200 { " class=\"dense\"" } else { "" };
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\"{dense} viewBox=\"0 0 {} {}\" role=\"img\">",
        C(c.w),
        C(h)
    );
    // Grid and y ticks.
    o.push_str("<path class=\"grid\" d=\"");
    let ticks = scale.ticks();
    for &v in &ticks {
        let _ = write!(o, "M{},{}H{}", C(left), C(y(v)), C(left + pw));
    }
    o.push_str("\"/>");
    for &v in &ticks {
        let _ = write!(
            o,
            "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            C(left - 6.0),
            C(y(v) + 4.0),
            tick_label(v)
        );
    }
    let unit = if matches!(scale, Scale::Log { .. }) {
        "ms (log)"
    } else {
        "ms"
    };
    let _ = write!(
        o,
        "<text class=\"tk\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{unit}</text>",
        C(left - 6.0),
        C(top - 10.0)
    );
    // Regression bands behind everything else.
    let band_w = band.max(3.0);
    for i in (0..n).filter(|&i| regressed(i)) {
        let _ = write!(
            o,
            "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            C(x(i) - band_w / 2.0),
            C(top),
            C(band_w),
            C(ph)
        );
    }
    // SLO lines.
    for (s, v) in &on_scale {
        let (cls, _) = slo_classes(&s.label);
        let _ = write!(
            o,
            "<path class=\"slo {cls}\" d=\"M{},{}H{}\"/>",
            C(left),
            C(y(*v)),
            C(left + pw)
        );
    }
    // Series: one path per line, gaps start a new subpath.
    let all_dots = n <= DOTS_MAX_RUNS;
    for l in &c.lines {
        let (line, dots) = series_path(n, |i| value(l, i), &x, &y, all_dots);
        if !line.is_empty() {
            let _ = write!(o, "<path class=\"ln {}\" d=\"{line}\"/>", l.class);
        }
        if !dots.is_empty() {
            let _ = write!(o, "<path class=\"dt {}\" d=\"{dots}\"/>", l.class);
        }
    }
    // Rings on the regressed runs' bounded percentiles.
    for i in (0..n).filter(|&i| regressed(i)) {
        for l in c.ringed.iter().filter_map(|&k| c.lines.get(k)) {
            if let Some(v) = value(l, i) {
                let _ = write!(
                    o,
                    "<circle class=\"ring\" cx=\"{}\" cy=\"{}\" r=\"5.5\"/>",
                    C(x(i)),
                    C(y(v))
                );
            }
        }
    }
    // SLO labels over the lines, nudged apart when thresholds are close.
    let mut labels: Vec<(f64, &SloLine)> = on_scale.iter().map(|(s, v)| (y(*v), *s)).collect();
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut last = f64::NEG_INFINITY;
    for (py, s) in labels {
        let ly = (py - 4.0).max(last + 12.0).max(top + 10.0);
        last = ly;
        let (_, tcls) = slo_classes(&s.label);
        let _ = write!(
            o,
            "<text class=\"slo-t {tcls}\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            C(left + pw - 4.0),
            C(ly),
            t(&s.label)
        );
    }
    if !off_scale.is_empty() {
        let names: Vec<String> = off_scale.iter().map(|s| t(&s.label)).collect();
        let _ = write!(
            o,
            "<text class=\"slo-t toth\" x=\"{}\" y=\"{}\" text-anchor=\"end\">↑ {} (far above)</text>",
            C(left + pw - 4.0),
            C(top + 10.0),
            names.join(", ")
        );
    }
    // Axes and x labels.
    let _ = write!(
        o,
        "<path class=\"axis\" d=\"M{},{}V{}H{}\"/>",
        C(left),
        C(top),
        C(base),
        C(left + pw)
    );
    o.push_str("<path class=\"axis\" d=\"");
    for &i in &picked {
        let _ = write!(o, "M{},{}v4", C(x(i)), C(base));
    }
    o.push_str("\"/>");
    x_labels(&mut o, c.runs, &picked, rotated, x, base, c.w);
    // Failed verify steps: one path of dots, over the axis
    // they sit on when the step got no response.
    let mut fails = String::new();
    for i in (0..n).filter(|&i| failed(i)) {
        let py = c.lines.first().and_then(|l| value(l, i)).map_or(base, y);
        let _ = write!(fails, "M{},{}h0", C(x(i)), C(py));
    }
    if !fails.is_empty() {
        let _ = write!(o, "<path class=\"fl\" d=\"{fails}\"/>");
    }
    // Hover columns: a tooltip per run where they are wide enough to aim at.
    if n <= HOVER_MAX_RUNS {
        for (i, run) in c.runs.iter().enumerate() {
            let _ = write!(
                o,
                "<rect class=\"hov\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}\n{}</title></rect>",
                C(left + i as f64 * band),
                C(top),
                C(band),
                C(ph),
                t(&run_tip(run)),
                t(&(c.tip)(i))
            );
        }
    }
    if c.legend {
        legend(&mut o, c, left, !on_scale.is_empty(), (0..n).any(regressed));
    }
    o.push_str("</svg>");
    Some(o)
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

fn counts(runs: &[TrendRun]) -> String {
    let count = |v: RunVerdict| runs.iter().filter(|r| r.verdict == v).count();
    let mut parts = vec![format!(
        "{} run{}",
        runs.len(),
        if runs.len() == 1 { "" } else { "s" }
    )];
    for (v, word) in [
        (RunVerdict::Passed, "passed"),
        (RunVerdict::Failed, "failed"),
        (RunVerdict::Regressed, "regressed"),
        (RunVerdict::Interrupted, "interrupted"),
    ] {
        let k = count(v);
        if k > 0 {
            parts.push(format!("{k} {word}"));
        }
    }
    let mut s = parts.join(" · ");
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(s, " · {} → {}", first.started_at, last.started_at);
    }
    s
}

/// Three significant figures: a tooltip saying 91.705 ms claims a
/// precision no percentile of a load run has.
fn ms_text(v: Option<f64>) -> String {
    let round = |v: f64| {
        let digits = if v >= 100.0 {
            0
        } else if v >= 10.0 {
            1
        } else {
            2
        };
        let k = 10f64.powi(digits);
        (v * k).round() / k
    };
    v.map_or_else(|| "–".into(), |v| format!("{} ms", num(round(v))))
}

fn group_section(o: &mut String, k: usize, total: usize, g: &LoadGroup) {
    let _ = write!(
        o,
        "<section class=\"group\"><h2><span class=\"kicker\">Load runs{}</span>{}</h2><p class=\"muted sub\">{}</p>",
        if total > 1 {
            format!(" · group {} of {total}", k + 1)
        } else {
            String::new()
        },
        t(&g.fingerprint),
        t(&counts(&g.runs))
    );
    if g.runs.is_empty() {
        o.push_str("<p class=\"muted\">No runs recorded in this group.</p></section>");
        return;
    }
    strip_card(o, &g.runs);
    if g.requests.is_empty() {
        o.push_str("<p class=\"muted\">No request measurements were recorded.</p></section>");
        return;
    }
    o.push_str("<div class=\"charts\">");
    let n = g.runs.len();
    for r in &g.requests {
        let pick = |f: fn(&Percentiles) -> f64| -> Vec<Option<f64>> {
            (0..n)
                .map(|i| r.points.get(i).copied().flatten().and_then(|p| fin(f(&p))))
                .collect()
        };
        let lines = vec![
            Line {
                key: "p50",
                class: "p50",
                values: pick(|p| p.p50_ms),
            },
            Line {
                key: "p95",
                class: "p95",
                values: pick(|p| p.p95_ms),
            },
            Line {
                key: "p99",
                class: "p99",
                values: pick(|p| p.p99_ms),
            },
        ];
        let mut regressed = vec![false; n];
        for &i in &r.regressed_runs {
            if let Some(b) = regressed.get_mut(i) {
                *b = true;
            }
        }
        let tip = |i: usize| match r.points.get(i).copied().flatten() {
            Some(p) => {
                let mut s = format!(
                    "{}: p50 {} · p95 {} · p99 {}",
                    r.name,
                    ms_text(fin(p.p50_ms)),
                    ms_text(fin(p.p95_ms)),
                    ms_text(fin(p.p99_ms))
                );
                if r.regressed_runs.contains(&i) {
                    s.push_str("\nthis request regressed");
                }
                s
            }
            None => format!("{}: not measured in this run", r.name),
        };
        let latest = r
            .points
            .get(n - 1)
            .copied()
            .flatten()
            .and_then(|p| fin(p.p95_ms))
            .map(|v| {
                format!(
                    "<span class=\"latest\">latest p95 {}</span>",
                    ms_text(Some(v))
                )
            })
            .unwrap_or_default();
        let svg = chart(&Chart {
            w: CHART_W,
            h: CHART_H,
            runs: &g.runs,
            lines,
            slo: &r.slo_lines,
            regressed,
            ringed: &[1, 2],
            failed: Vec::new(),
            legend: true,
            tip: &tip,
        });
        let _ = write!(
            o,
            "<div class=\"card\"><h3>{}{latest}</h3>{}</div>",
            t(&r.name),
            svg.unwrap_or_else(|| {
                "<p class=\"muted\">No measurements of this request in these runs.</p>".into()
            })
        );
    }
    o.push_str("</div></section>");
}

fn verify_section(o: &mut String, v: Option<&VerifyTrend>) {
    o.push_str("<section class=\"group\"><h2>Verify steps across deploys</h2>");
    let Some(v) = v.filter(|v| !v.runs.is_empty()) else {
        o.push_str("<p class=\"muted\">No verify runs recorded.</p></section>");
        return;
    };
    let _ = write!(o, "<p class=\"muted sub\">{}</p>", t(&counts(&v.runs)));
    strip_card(o, &v.runs);
    if v.steps.is_empty() {
        o.push_str("<p class=\"muted\">No step measurements were recorded.</p></section>");
        return;
    }
    o.push_str(
        "<p class=\"key\"><i style=\"background:#1f77b4;height:3px;vertical-align:3px\"></i>step latency (ms)\
         <i style=\"background:#b91c1c;border-radius:50%\"></i>step failed (on the axis when it got no response)</p>\
         <div class=\"multiples\">",
    );
    let n = v.runs.len();
    for s in &v.steps {
        let point = |i: usize| s.points.get(i).copied().flatten();
        let values = (0..n)
            .map(|i| point(i).and_then(|p| fin(p.latency_ms)))
            .collect();
        let failed: Vec<bool> = (0..n)
            .map(|i| point(i).is_some_and(|p| !p.passed))
            .collect();
        let fails = failed.iter().filter(|f| **f).count();
        let tip = |i: usize| match point(i) {
            Some(p) => format!(
                "{}: {} · {}",
                s.name,
                ms_text(fin(p.latency_ms)),
                if p.passed { "passed" } else { "FAILED" }
            ),
            None => format!("{}: not run", s.name),
        };
        let svg = chart(&Chart {
            w: SMALL_W,
            h: SMALL_H,
            runs: &v.runs,
            lines: vec![Line {
                key: "latency",
                class: "lat",
                values,
            }],
            slo: &[],
            regressed: Vec::new(),
            ringed: &[],
            failed,
            legend: false,
            tip: &tip,
        });
        let badge = if fails > 0 {
            format!("<span class=\"latest\"><span class=\"tag fail\">failed {fails}×</span></span>")
        } else {
            String::new()
        };
        let _ = write!(
            o,
            "<div class=\"card\"><h3>{}{badge}</h3>{}</div>",
            t(&s.name),
            svg.unwrap_or_else(|| {
                "<p class=\"muted\">No measurements of this step in these runs.</p>".into()
            })
        );
    }
    o.push_str("</div></section>");
}

/// The whole page. Never fails: odd input (no runs, gaps, non-finite
/// values, hostile names) renders as a visible note, not an error, because
/// a history of many runs should not be unreadable for one bad row.
pub fn render(page: &TrendPage) -> String {
    let runs: usize = page.groups.iter().map(|g| g.runs.len()).sum();
    let charts: usize = page.groups.iter().map(|g| g.requests.len()).sum();
    let mut o = String::with_capacity(16_384 + runs * 400 + charts * runs * 110);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}{TREND_CSS}</style></head><body><header><h1>{}</h1></header>\
         <p class=\"muted\">Generated {} · latencies in milliseconds, oldest run on the left</p>",
        t(&page.title),
        t(&page.title),
        t(&page.generated_at)
    );
    if page.groups.is_empty() {
        o.push_str("<h2>Load runs</h2><p class=\"muted\">No load runs recorded.</p>");
    }
    for (k, g) in page.groups.iter().enumerate() {
        group_section(&mut o, k, page.groups.len(), g);
    }
    verify_section(&mut o, page.verify.as_ref());
    let _ = writeln!(
        o,
        "<footer>Each chart's y axis is linear from zero, or log10 when its values span more than two decades. \
         Dashed lines are the latest run's objectives. postdeploy {}.</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

#[cfg(test)]
mod tests;
