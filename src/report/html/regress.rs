//! The report.html section of a regression verdict: the Δ table, then the
//! baseline's and the current run's percentile spectra overlaid.

use std::fmt::Write as _;

use crate::report::escape::esc;
use crate::report::regress::{delta, headline, value};
use crate::verdict::regress::classify::Change;
use crate::verdict::regress::gate::{Regression, Spectrum, fmt_value};
use crate::verdict::regress::tolerance::RMetric;

/// The report.html section: Δ table, then per request name the baseline's
/// and the current run's percentile spectra overlaid.
pub fn html_section(r: &Regression) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<h2>Against the baseline</h2><p>{}</p>",
        esc(&headline(r))
    );
    if !r.baseline.runs.is_empty() {
        o.push_str("<p class=\"small muted\">Baseline runs: ");
        let runs: Vec<String> = r
            .baseline
            .runs
            .iter()
            .map(|b| {
                format!(
                    "{}{} ({})",
                    b.id.map(|i| format!("#{i} ")).unwrap_or_default(),
                    esc(&b.label),
                    esc(&b.started_at)
                )
            })
            .collect();
        o.push_str(&runs.join(", "));
        o.push_str("</p>");
    }
    if r.results.is_empty() {
        return o;
    }
    o.push_str("<table><tr><th>Request</th><th>Metric</th><th>Baseline</th><th>Current</th><th>Δ [95% CI]</th><th>Threshold</th><th>Verdict</th><th>Why</th></tr>");
    for c in &r.results {
        let (row, tag) = match c.change {
            Change::Regressed => (
                " class=\"fail\"",
                "<span class=\"tag fail\">REGRESSED</span>",
            ),
            Change::Improved => ("", "<span class=\"tag pass\">improved</span>"),
            Change::Inconclusive => ("", "<span class=\"tag\">inconclusive</span>"),
            Change::Pass => ("", "<span class=\"tag pass\">ok</span>"),
        };
        let _ = write!(
            o,
            "<tr{row}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{tag}</td><td class=\"small\">{}</td></tr>",
            esc(&c.name),
            c.metric,
            esc(&value(c, c.baseline)),
            esc(&value(c, c.current)),
            esc(&delta(c)),
            esc(&fmt_value(c.metric, c.threshold, false)),
            esc(&c.reason)
        );
    }
    o.push_str("</table>");
    if !r.spectra.is_empty() {
        o.push_str("<h2>Percentile spectra: baseline beside current</h2><div class=\"charts\">");
        for s in &r.spectra {
            let _ = write!(
                o,
                "<div class=\"card\"><h3>{}</h3>{}</div>",
                esc(&s.name),
                spectrum_svg(s)
            );
        }
        o.push_str("</div>");
    }
    o
}

/// x: percentile on a "nines" scale (50, 90, 99, 99.9...), y: ms (linear
/// from 0). Baseline dashed grey, current blue.
fn spectrum_svg(s: &Spectrum) -> String {
    let (w, h, l, r, t, b) = (560.0, 240.0, 56.0, 16.0, 12.0, 34.0);
    let nines = |p: f64| -> f64 {
        let p = p.min(99.999);
        -(1.0 - p / 100.0).log10()
    };
    let xmax = nines(99.999);
    let ymax = s
        .baseline_ms
        .iter()
        .chain(&s.current_ms)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.08;
    let x = |p: f64| l + nines(p) / xmax * (w - l - r);
    let y = |v: f64| t + (1.0 - v / ymax) * (h - t - b);
    let line = |vals: &[f64]| -> String {
        s.percentiles
            .iter()
            .zip(vals)
            .filter(|(_, v)| v.is_finite())
            .map(|(p, v)| format!("{:.1},{:.1}", x(*p), y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut o = format!(
        "<svg viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" font-size=\"11\" font-family=\"system-ui,sans-serif\">"
    );
    for p in [0.0, 50.0, 90.0, 99.0, 99.9, 99.99] {
        let _ = write!(
            o,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{t}\" y2=\"{1}\" stroke=\"#e5e7eb\"/><text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\" fill=\"#6b7280\">p{3}</text>",
            x(p),
            h - b,
            h - b + 14.0,
            p
        );
    }
    for i in 0..=4 {
        let v = ymax / 1.08 * f64::from(i) / 4.0;
        let _ = write!(
            o,
            "<line x1=\"{l}\" x2=\"{0}\" y1=\"{1:.1}\" y2=\"{1:.1}\" stroke=\"#f1f3f6\"/><text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\" fill=\"#6b7280\">{4}</text>",
            w - r,
            y(v),
            l - 6.0,
            y(v) + 4.0,
            esc(&fmt_value(RMetric::P50, v, false))
        );
    }
    let _ = write!(
        o,
        "<polyline fill=\"none\" stroke=\"#9ca3af\" stroke-width=\"2\" stroke-dasharray=\"5 4\" points=\"{}\"><title>baseline</title></polyline>\
         <polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2\" points=\"{}\"><title>current</title></polyline>\
         <text x=\"{}\" y=\"{}\" fill=\"#9ca3af\">- - baseline</text><text x=\"{}\" y=\"{}\" fill=\"#2563eb\">— current</text></svg>",
        line(&s.baseline_ms),
        line(&s.current_ms),
        l + 8.0,
        t + 12.0,
        l + 90.0,
        t + 12.0
    );
    o
}
