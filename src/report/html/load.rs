//! `report.html`: one self-contained page (inline CSS and SVG, no script,
//! no font or CDN) because people open it from CI artifacts on runners with
//! no internet. Charts are drawn by plotters into SVG strings.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::measure::ms;
use crate::measure::{Measurements, Model, ScopeData, Settings};
use crate::provenance::Provenance;
use crate::report::escape::esc;
use crate::report::hgrm;
use crate::verdict::LoadVerdict;
use crate::verdict::slo::{SloResult, WHOLE_RUN, num};

const W: u32 = 660;
const H: u32 = 320;
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Upper end of an axis: a little headroom, never an empty range.
fn top(max: f64) -> f64 {
    if max > 0.0 { max * 1.1 } else { 1.0 }
}

type XFmt = dyn Fn(&f64) -> String;

/// A line chart as an SVG string; `x_fmt` labels the x axis ticks.
fn line_chart(
    x_desc: &str,
    y_desc: &str,
    x_range: (f64, f64),
    x_fmt: &XFmt,
    legend_at: SeriesLabelPosition,
    series: &[Series],
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE)?;
        let y_max = top(series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max));
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(32)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range.0..x_range.1, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(x_fmt)
            .y_label_formatter(&|y| num(*y))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(225, 225, 225))
            .label_style(("sans-serif", 13))
            .draw()?;
        for s in series {
            let color = s.color;
            let drawn = chart.draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?;
            drawn.label(s.label.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
            if s.points.len() == 1 {
                chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
            }
        }
        if series.iter().any(|s| !s.label.is_empty()) {
            chart
                .configure_series_labels()
                .position(legend_at)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(200, 200, 200))
                .label_font(("sans-serif", 13))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

fn seconds_fmt(x: &f64) -> String {
    format!("{}s", num(*x))
}

/// Requests/s, latency percentiles and errors per second over the run.
fn time_charts(m: &Measurements) -> anyhow::Result<[String; 3]> {
    let mut rps = Vec::new();
    let mut errs = Vec::new();
    let (mut p50, mut p95, mut p99) = (Vec::new(), Vec::new(), Vec::new());
    let mut x_max: f64 = 1.0;
    // Each interval is drawn as a flat step over the second it covers: the
    // figures are per-interval totals, not samples at an instant.
    let step = |v: &mut Vec<(f64, f64)>, from: f64, to: f64, y: f64| {
        v.push((from, y));
        v.push((to, y));
    };
    for iv in &m.intervals {
        let len = iv.length.as_secs_f64();
        let from = iv.start.as_secs_f64();
        let to = (iv.start + iv.length).as_secs_f64();
        x_max = x_max.max(to);
        let per_s = |n: u64| if len > 0.0 { n as f64 / len } else { 0.0 };
        let a = &iv.all;
        step(&mut rps, from, to, per_s(a.count));
        step(&mut errs, from, to, per_s(a.errors));
        if a.max_us > 0 {
            step(&mut p50, from, to, ms(u64::from(a.p50_us)));
            step(&mut p95, from, to, ms(u64::from(a.p95_us)));
            step(&mut p99, from, to, ms(u64::from(a.p99_us)));
        }
    }
    let range = (0.0, x_max);
    let throughput = line_chart(
        "time since start",
        "requests/s",
        range,
        &seconds_fmt,
        SeriesLabelPosition::UpperLeft,
        &[Series {
            label: String::new(),
            color: PALETTE[0],
            points: rps,
        }],
    )?;
    let latency = line_chart(
        "time since start",
        "latency (ms)",
        range,
        &seconds_fmt,
        SeriesLabelPosition::UpperLeft,
        &[
            Series {
                label: "p50".into(),
                color: PALETTE[2],
                points: p50,
            },
            Series {
                label: "p95".into(),
                color: PALETTE[1],
                points: p95,
            },
            Series {
                label: "p99".into(),
                color: PALETTE[3],
                points: p99,
            },
        ],
    )?;
    let errors = line_chart(
        "time since start",
        "failed requests/s",
        range,
        &seconds_fmt,
        SeriesLabelPosition::UpperLeft,
        &[Series {
            label: String::new(),
            color: PALETTE[3],
            points: errs,
        }],
    )?;
    Ok([throughput, latency, errors])
}

/// Percentile label of a log10(1/(1-p)) axis position: 0 → 0%, 2 → 99%.
fn percentile_label(x: &f64) -> String {
    if (x - x.round()).abs() > 1e-9 {
        return String::new();
    }
    let p = 100.0 * (1.0 - 10f64.powf(-x.round()));
    format!("{}%", num(p))
}

/// Latency by percentile, x on a log scale of 1/(1-percentile) the way
/// HdrHistogram's plotter draws it: the tail gets the room it deserves.
fn spectrum_chart(m: &Measurements, all: &ScopeData<'_>) -> anyhow::Result<String> {
    let mut scopes: Vec<(String, &Histogram<u64>)> = vec![("all".into(), all.histogram.as_ref())];
    scopes.extend(m.requests.iter().map(|(n, r)| (n.clone(), &r.histogram)));
    scopes.truncate(PALETTE.len());
    let mut series = Vec::new();
    let mut maxes = Vec::new();
    let mut x_max: f64 = 2.0;
    for (i, (label, h)) in scopes.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = hgrm::percentiles(h, hgrm::TICKS)
            .into_iter()
            .filter(|r| r.percentile < 100.0)
            .map(|r| ((100.0 / (100.0 - r.percentile)).log10(), ms(r.value)))
            .collect();
        x_max = points.iter().map(|p| p.0).fold(x_max, f64::max);
        series.push(Series {
            label: label.clone(),
            color: PALETTE[i],
            points,
        });
        maxes.push(ms(h.max()));
    }
    // 100% sits at infinity on this axis: like the HdrHistogram plotter,
    // carry each curve on to the right edge at its maximum.
    let right = x_max.ceil();
    for (s, max) in series.iter_mut().zip(maxes) {
        s.points.push((right, max));
    }
    line_chart(
        "percentile",
        "latency (ms)",
        (0.0, right),
        &percentile_label,
        SeriesLabelPosition::LowerRight,
        &series,
    )
}

fn dash(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "–".into())
}

fn slo_table(results: &[SloResult]) -> String {
    if results.is_empty() {
        return "<p class=\"muted\">No objectives were set.</p>".into();
    }
    let mut o = String::from(
        "<table><thead><tr><th>Result</th><th>Request</th><th>Metric</th><th>Threshold</th><th>Measured</th><th>From</th></tr></thead><tbody>",
    );
    for r in results {
        let (cls, word) = if r.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let scope = if r.scope == WHOLE_RUN {
            "<em>whole run</em>".to_string()
        } else {
            esc(&r.scope)
        };
        let measured = match (r.actual, &r.reason) {
            (Some(v), _) => esc(&r.metric.show(v)),
            (None, Some(reason)) => format!("<span class=\"muted\">{}</span>", esc(reason)),
            (None, None) => "–".into(),
        };
        let _ = write!(
            o,
            "<tr class=\"{cls}\"><td><span class=\"tag {cls}\">{word}</span></td><td>{scope}</td><td>{}</td><td>{} {}</td><td class=\"num\">{measured}</td><td class=\"muted\">{}</td></tr>",
            esc(r.metric.key()),
            esc(r.op.symbol()),
            esc(&r.metric.show(r.threshold)),
            esc(&r.origin)
        );
    }
    o.push_str("</tbody></table>");
    o
}

struct Row<'a> {
    name: &'a str,
    method: &'a str,
    path: &'a str,
    count: u64,
    failed: u64,
    errors: String,
    histogram: &'a Histogram<u64>,
}

fn request_row(o: &mut String, r: &Row<'_>, elapsed_s: f64, class: &str) {
    let h = r.histogram;
    let q = |x: f64| {
        if h.is_empty() {
            "–".to_string()
        } else {
            num(ms(h.value_at_quantile(x)))
        }
    };
    let rate = if r.count == 0 {
        0.0
    } else {
        r.failed as f64 / r.count as f64
    };
    let rps = if elapsed_s > 0.0 {
        r.count as f64 / elapsed_s
    } else {
        0.0
    };
    let _ = write!(
        o,
        "<tr class=\"{class}\"><td>{}{}</td><td>{}</td><td class=\"path\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}%</td><td class=\"num\">{}</td>",
        esc(r.name),
        if r.errors.is_empty() {
            String::new()
        } else {
            format!("<div class=\"muted small\">{}</div>", esc(&r.errors))
        },
        esc(r.method),
        esc(r.path),
        r.count,
        r.failed,
        num(rate * 100.0),
        num(rps)
    );
    for x in [-1.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let v = if x < 0.0 {
            if h.is_empty() {
                "–".into()
            } else {
                num(ms(h.min()))
            }
        } else {
            q(x)
        };
        let _ = write!(o, "<td class=\"num\">{v}</td>");
    }
    o.push_str("</tr>");
}

fn requests_table(m: &Measurements, all: &ScopeData<'_>) -> String {
    let elapsed_s = m.elapsed.as_secs_f64();
    let mut o = String::from(
        "<table><thead><tr><th>Request</th><th>Method</th><th>Path</th><th>Count</th><th>Failed</th><th>Error rate</th><th>req/s</th>\
         <th>min</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody>",
    );
    for (name, r) in &m.requests {
        let errors = r
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        request_row(
            &mut o,
            &Row {
                name,
                method: &r.method,
                path: &r.path,
                count: r.count,
                failed: r.error_count(),
                errors,
                histogram: &r.histogram,
            },
            elapsed_s,
            "",
        );
    }
    request_row(
        &mut o,
        &Row {
            name: "all",
            method: "",
            path: "",
            count: all.count,
            failed: all.errors,
            errors: String::new(),
            histogram: &all.histogram,
        },
        elapsed_s,
        "total",
    );
    o.push_str("</tbody></table><p class=\"muted small\">Latencies in milliseconds, completed responses only; failed requests include transport errors.</p>");
    o
}

fn server_section(m: &Measurements) -> String {
    let Some(s) = &m.server else {
        return "<p class=\"muted\">The target exposed no server metrics; nothing to cross-check.</p>".into();
    };
    let mut o = String::new();
    for w in &s.warnings {
        let _ = write!(o, "<p class=\"warning\">⚠ {}</p>", esc(w));
    }
    o.push_str("<table><thead><tr><th>Method</th><th>Route</th><th>Requests</th><th>5xx</th><th>p95 (ms)</th></tr></thead><tbody>");
    for r in &s.routes {
        let cls = if r.errors_5xx > 0.0 {
            " class=\"fail\""
        } else {
            ""
        };
        let _ = write!(
            o,
            "<tr{cls}><td>{}</td><td class=\"path\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&r.method),
            esc(&r.route),
            num(r.requests),
            num(r.errors_5xx),
            dash(r.p95_seconds.map(|p| p * 1000.0))
        );
    }
    let client: u64 = m.requests.values().map(|r| r.count).sum();
    let _ = write!(
        o,
        "<tr class=\"total\"><td></td><td>total (client sent {client})</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td></td></tr></tbody></table>",
        num(s.total_requests),
        num(s.total_5xx)
    );
    o
}

/// Shared with `history trend`'s page so the two read as one product.
pub(crate) const CSS: &str = r#"
:root { --fg:#1d2330; --muted:#6b7280; --line:#e5e7eb; --pass:#15803d; --fail:#b91c1c; --bg:#f7f8fa; }
* { box-sizing: border-box; }
body { margin:0; padding:24px 32px; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; color:var(--fg); background:var(--bg); }
h1 { font-size:22px; margin:0 0 4px; }
h2 { font-size:17px; margin:28px 0 10px; }
h3 { font-size:14px; margin:0 0 6px; color:var(--muted); font-weight:600; }
header { display:flex; gap:16px; align-items:center; flex-wrap:wrap; }
.badge { font-weight:700; padding:4px 12px; border-radius:6px; color:#fff; letter-spacing:.04em; }
.badge.pass { background:var(--pass); } .badge.fail { background:var(--fail); }
dl.meta { display:grid; grid-template-columns:max-content 1fr max-content 1fr; gap:2px 14px; margin:12px 0 0; }
dl.meta dt { color:var(--muted); } dl.meta dd { margin:0; font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:13px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.charts { display:grid; grid-template-columns:repeat(auto-fit,minmax(560px,1fr)); gap:16px; }
.charts svg { width:100%; height:auto; display:block; }
table { border-collapse:collapse; width:100%; background:#fff; border:1px solid var(--line); border-radius:8px; }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f1f3f6; font-weight:600; font-size:13px; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.path { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
tr.total td { font-weight:600; background:#fafbfc; }
tr.fail td { background:#fef2f2; }
.tag { font-size:12px; font-weight:700; padding:1px 7px; border-radius:4px; }
.tag.pass { color:var(--pass); background:#dcfce7; } .tag.fail { color:#fff; background:var(--fail); }
.muted { color:var(--muted); } .small { font-size:12px; }
.warning { background:#fffbeb; border:1px solid #fcd34d; padding:8px 12px; border-radius:6px; margin:6px 0; }
footer { margin-top:28px; color:var(--muted); font-size:12px; }
"#;

/// The whole page.
pub fn render(
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    prov: &Provenance,
    files: &[String],
) -> anyhow::Result<String> {
    let passed = verdict.passed;
    let results = &verdict.slo_results;
    let [throughput, latency, errors] = time_charts(m)?;
    // Every name merged, once for the page: the spectrum's "all" curve and
    // the table's total row.
    let all = m.all();
    let spectrum = spectrum_chart(m, &all)?;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>postdeploy load: {}</title><style>{CSS}</style></head><body>",
        esc(&settings.target)
    );
    let (cls, word) = match (m.stopped_by.signal(), passed) {
        (Some(_), _) => ("fail", "INTERRUPTED"),
        (None, true) => ("pass", "PASSED"),
        (None, false) => ("fail", "FAILED"),
    };
    let local = if settings.target_local {
        " <small>(the embedded local backend, not a deployment)</small>"
    } else {
        ""
    };
    let _ = write!(
        o,
        "<header><h1>Load test of {}{local}</h1><span class=\"badge {cls}\">{word}</span></header>",
        esc(&settings.target)
    );
    let load = match (settings.model, settings.rate) {
        (Model::Open, Some(r)) => format!("open model, {} requests/s", num(r)),
        (Model::Open, None) => "open model".into(),
        (Model::Closed, _) => format!("closed model, {} users", settings.users),
    };
    let stopped = m.stopped_by.describe();
    let scenarios = settings
        .scenarios
        .iter()
        .map(|s| {
            format!(
                "{} ({}, sha256 {}…)",
                s.name,
                s.file,
                &s.sha256.get(..12).unwrap_or(&s.sha256)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let mut meta: Vec<(&str, String)> = vec![
        (
            "Started",
            m.started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        (
            "Ended",
            m.ended_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        (
            "Elapsed",
            format!("{} s ({stopped})", num(m.elapsed.as_secs_f64())),
        ),
        ("Load", load),
        (
            "Git commit",
            prov.commit.clone().unwrap_or_else(|| "–".into()),
        ),
        (
            "Deploy id",
            prov.deploy_id.clone().unwrap_or_else(|| "–".into()),
        ),
        ("Scenarios", scenarios),
        (
            "Tool",
            concat!("postdeploy ", env!("CARGO_PKG_VERSION")).to_string(),
        ),
    ];
    // The rest of the provenance (commit and deploy id are above).
    let extra: Vec<(String, String)> = prov
        .pairs()
        .into_iter()
        .filter(|(k, _)| k != "commit" && k != "deploy_id")
        .collect();
    meta.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    o.push_str("<dl class=\"meta\">");
    for (k, v) in meta {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    }
    o.push_str("</dl>");
    let _ = write!(o, "<h2>Service-level objectives</h2>{}", slo_table(results));
    if let Some(r) = &verdict.regression {
        o.push_str(&super::regress::html_section(r));
    }
    let why = crate::report::console::load_failure_lines(&m.requests);
    if !why.is_empty() {
        let _ = write!(
            o,
            "<h2>Why requests failed</h2><pre class=\"why\">{}</pre>",
            esc(&why.join("\n"))
        );
    }
    o.push_str("<h2>Over time</h2><div class=\"charts\">");
    for (title, svg) in [
        ("Throughput (requests/s)", &throughput),
        ("Latency p50 / p95 / p99 (ms)", &latency),
        ("Latency by percentile (ms)", &spectrum),
        ("Failed requests per second", &errors),
    ] {
        let _ = write!(o, "<div class=\"card\"><h3>{title}</h3>{svg}</div>");
    }
    o.push_str("</div>");
    let _ = write!(o, "<h2>Requests</h2>{}", requests_table(m, &all));
    if let Some(s) = &m.schedule {
        o.push_str(&crate::report::schedule::html_section(s));
    }
    let _ = write!(o, "<h2>Server cross-check</h2>{}", server_section(m));
    if !m.shards.is_empty() {
        let _ = write!(o, "<h2>Shards</h2>{}", shards_table(m));
    }
    if let Some(g) = m.generator {
        let share = g.share(m.elapsed);
        let _ = write!(
            o,
            "<p>Load generator: {:.1} s of CPU over {:.1} s on {} core(s), {:.0}% of its capacity{}.</p>",
            g.cpu.as_secs_f64(),
            m.elapsed.as_secs_f64(),
            g.cores,
            share * 100.0,
            if share > crate::measure::CPU_SATURATED {
                ": <b>saturated</b>, the latencies include its own queueing"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(
        o,
        "<footer>Also in this directory: {}. Histograms: HdrHistogram, microseconds, 3 significant digits.</footer></body></html>",
        esc(&files.join(", "))
    );
    Ok(o)
}

/// A merged run's shards side by side, with any sign that a generator, not
/// the server, set the pace.
fn shards_table(m: &Measurements) -> String {
    let mut t = String::from(
        "<table><tr><th>shard</th><th>directory</th><th>started</th><th>skew</th><th>requests</th><th>failed</th><th>achieved/s</th><th>share/s</th><th>p50</th><th>generator CPU</th><th>flags</th></tr>",
    );
    for s in &m.shards {
        let _ = write!(
            t,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.index,
            esc(&crate::secrets::redact(&s.dir)),
            esc(&s
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            s.skew_s
                .map_or("-".into(), |k| format!("{:.0} ms", k * 1000.0)),
            s.requests,
            s.failed,
            s.achieved_rps,
            s.expected_rps,
            s.p50_ms.map_or("-".into(), |p| format!("{p:.3} ms")),
            s.cpu_share
                .map_or("-".into(), |c| format!("{:.0}%", c * 100.0)),
            if s.flags.is_empty() {
                "ok".into()
            } else {
                format!("<b>{}</b>", esc(&s.flags.join("; ")))
            }
        );
    }
    t.push_str("</table><p>Histograms are added exactly; the interval log aligns the shards' seconds by wall-clock time. Per-second error counts of a merged run are not known (the interval logs carry latencies only); the totals are exact.</p>");
    t
}
