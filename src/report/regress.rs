//! Every face of a regression verdict: console lines, a Markdown table (CI
//! job summaries, `--markdown`), JUnit test cases, Bencher Metric Format
//! and the report.html section with the baseline beside the current run.
//! They all show the one [`Regression`] the gate decided.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::report::escape::{esc, md_cell};
use crate::verdict::regress::classify::Change;
use crate::verdict::regress::gate::{MetricChange, Regression, Spectrum, fmt_value};
use crate::verdict::regress::tolerance::RMetric;

pub(crate) fn word(c: Change) -> &'static str {
    match c {
        Change::Regressed => "REGRESSED",
        Change::Improved => "improved",
        Change::Inconclusive => "inconclusive",
        Change::Pass => "ok",
    }
}

fn headline(r: &Regression) -> String {
    if r.results.is_empty() {
        return r.note.clone().unwrap_or_else(|| "nothing compared".into());
    }
    format!(
        "{} regressed, {} improved, {} inconclusive, {} within tolerance; baseline: {}{}",
        r.count(Change::Regressed),
        r.count(Change::Improved),
        r.count(Change::Inconclusive),
        r.count(Change::Pass),
        r.baseline.source,
        if r.regressed && r.warn_only {
            " (--regress-warn: not failing the run)"
        } else {
            ""
        }
    )
}

pub(crate) fn value(c: &MetricChange, v: Option<f64>) -> String {
    v.map(|v| fmt_value(c.metric, v, false))
        .unwrap_or_else(|| "–".into())
}

pub(crate) fn delta(c: &MetricChange) -> String {
    match c.delta {
        Some(d) => format!(
            "{} [{}, {}]",
            fmt_value(c.metric, d.value, true),
            fmt_value(c.metric, d.low, true),
            fmt_value(c.metric, d.high, true)
        ),
        None => "–".into(),
    }
}

/// Console lines: the headline, then every metric that is not a plain pass.
pub fn console_lines(r: &Regression) -> Vec<String> {
    let mut v = vec![format!("regression gate: {}", headline(r))];
    for c in &r.results {
        if c.change == Change::Pass {
            continue;
        }
        v.push(format!(
            "  {:<12} {} {}: {} → {}, {}",
            word(c.change),
            c.name,
            c.metric,
            value(c, c.baseline),
            value(c, c.current),
            c.reason
        ));
    }
    if let (Some(n), false) = (&r.note, r.results.is_empty()) {
        v.push(format!("  note: {n}"));
    }
    v
}

/// A Markdown section for job summaries and `--markdown`.
pub fn markdown(r: &Regression) -> String {
    let mut o = String::new();
    let icon = if r.regressed {
        if r.warn_only { "⚠️" } else { "❌" }
    } else {
        "✅"
    };
    let _ = writeln!(
        o,
        "#### {icon} Regression gate\n\n{}\n",
        md_cell(&headline(r))
    );
    if r.results.is_empty() {
        return o;
    }
    let _ = writeln!(
        o,
        "| request | metric | baseline | current | Δ [95% CI] | threshold | verdict |\n|---|---|--:|--:|--:|--:|---|"
    );
    for c in &r.results {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&c.name),
            c.metric,
            value(c, c.baseline),
            value(c, c.current),
            delta(c),
            fmt_value(c.metric, c.threshold, false),
            if c.change == Change::Regressed {
                "**REGRESSED**"
            } else {
                word(c.change)
            }
        );
    }
    let _ = writeln!(
        o,
        "\n<sub>{} resamples, seed {}, {}% intervals; threshold = max(tolerance, noise floor across baseline runs).</sub>",
        r.method.resamples,
        r.method.seed,
        r.method.confidence * 100.0
    );
    if let Some(n) = &r.note {
        let _ = writeln!(o, "\n{}", md_cell(n));
    }
    o
}

/// Bencher Metric Format: one benchmark per request name, one measure per
/// metric. The bounds are the current value's interval implied by the Δ
/// interval (baseline + Δ bounds), so Bencher's own thresholds see the
/// same uncertainty the gate saw.
pub fn bmf(r: &Regression, current_only: &[(String, RMetric, f64)]) -> Value {
    let mut out = serde_json::Map::new();
    let slug = |m: RMetric| match m {
        RMetric::P50 => "latency-p50-ms",
        RMetric::P95 => "latency-p95-ms",
        RMetric::P99 => "latency-p99-ms",
        RMetric::ErrorRate => "error-rate",
        RMetric::Rate => "throughput-rps",
        m => m.key(),
    };
    for c in &r.results {
        let Some(cur) = c.current else { continue };
        let mut m = json!({ "value": cur });
        if let (Some(b), Some(d)) = (c.baseline, c.delta) {
            m["lower_value"] = json!(b + d.low);
            m["upper_value"] = json!(b + d.high);
        }
        out.entry(c.name.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|o| o.insert(slug(c.metric).to_string(), m));
    }
    for (name, metric, v) in current_only {
        let entry = out.entry(name.clone()).or_insert_with(|| json!({}));
        if let Some(o) = entry.as_object_mut() {
            o.entry(slug(*metric).to_string())
                .or_insert_with(|| json!({ "value": v }));
        }
    }
    Value::Object(out)
}

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
