//! The text faces of a regression verdict: console lines, a Markdown table
//! (CI job summaries, `--markdown`) and Bencher Metric Format, with the
//! words every face uses (JUnit in `junit::regress`, the report.html
//! section in `html::regress`). They all show the one [`Regression`] the
//! gate decided.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::report::escape::md_cell;
use crate::verdict::regress::classify::Change;
use crate::verdict::regress::gate::{MetricChange, Regression, fmt_value};
use crate::verdict::regress::tolerance::RMetric;

pub(crate) fn word(c: Change) -> &'static str {
    match c {
        Change::Regressed => "REGRESSED",
        Change::Improved => "improved",
        Change::Inconclusive => "inconclusive",
        Change::Pass => "ok",
    }
}

pub(crate) fn headline(r: &Regression) -> String {
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
