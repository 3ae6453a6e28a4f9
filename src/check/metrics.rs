//! Assertions on a Prometheus exposition.

use super::{AssertionResult, Kind, Observed};
use crate::scenario::model::{IfEmpty, MetricAssert};
use crate::scenario::template::Scope;

fn ops(m: &MetricAssert) -> Vec<(&'static str, f64)> {
    [
        ("==", m.equals),
        ("!=", m.not_equals),
        ("<", m.lt),
        ("<=", m.le),
        (">", m.gt),
        (">=", m.ge),
    ]
    .into_iter()
    .filter_map(|(op, v)| v.map(|v| (op, v)))
    .collect()
}

fn holds(op: &str, x: f64, b: f64) -> bool {
    match op {
        "==" => (x - b).abs() <= f64::EPSILON * x.abs().max(b.abs()).max(1.0),
        "!=" => (x - b).abs() > f64::EPSILON * x.abs().max(b.abs()).max(1.0),
        "<" => x < b,
        "<=" => x <= b,
        ">" => x > b,
        ">=" => x >= b,
        _ => false,
    }
}

fn expected_text(m: &MetricAssert) -> String {
    ops(m)
        .iter()
        .map(|(op, v)| format!("{op} {v}"))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// An empty family or unmatched selector: the scenario decides whether that
/// fails, passes with a warning, or passes.
fn empty(m: &MetricAssert, subject: String, expected: String, what: String) -> AssertionResult {
    let mut r = AssertionResult::new(
        Kind::Metric,
        subject,
        expected,
        what.clone(),
        m.if_empty != IfEmpty::Fail,
    );
    if m.if_empty == IfEmpty::Warn {
        r.warning = Some(what);
    }
    r
}

pub(super) fn assert(m: &MetricAssert, obs: &Observed<'_>, scope: &Scope) -> AssertionResult {
    let subject = if let Some(f) = &m.family {
        format!("metric {}", f.value)
    } else if let Some(s) = &m.sample {
        format!("metric {}", s.source)
    } else if let Some(h) = &m.histogram {
        format!("metric p{} {}", m.quantile.unwrap_or(0.0) * 100.0, h.source)
    } else {
        "metric".into()
    };
    let expo = match obs.metrics() {
        Ok(e) => e,
        Err(e) => return AssertionResult::new(Kind::Metric, subject, "Prometheus text", e, false),
    };
    if let Some(f) = &m.family {
        return match expo.family(&f.value) {
            None => AssertionResult::new(Kind::Metric, subject, "declared", "not declared", false),
            Some(fam) if fam.samples.is_empty() => empty(
                m,
                subject,
                "declared with samples".into(),
                "declared but has no samples".into(),
            ),
            Some(fam) => AssertionResult::new(
                Kind::Metric,
                subject,
                "declared with samples",
                format!("{} samples", fam.samples.len()),
                true,
            ),
        };
    }
    let expected = expected_text(m);
    if let Some(s) = &m.sample {
        let Some(mut value) = expo.sum(&s.selector) else {
            // A counter that has never been incremented is legitimately
            // absent; with delta_from that is a delta of 0.
            if m.delta_from.is_some() {
                let base = m
                    .delta_from
                    .as_deref()
                    .and_then(|v| scope.get(v))
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                let d = -base;
                let ok = ops(m).iter().all(|(op, b)| holds(op, d, *b));
                return AssertionResult::new(
                    Kind::Metric,
                    format!("{subject} delta"),
                    expected,
                    format!("{d} (no samples now)"),
                    ok,
                );
            }
            let what = match expo.family(&s.selector.metric) {
                Some(f) if f.samples.is_empty() => "family declared but has no samples".to_string(),
                Some(_) => "no sample matches the labels".to_string(),
                None => "no such metric".to_string(),
            };
            return empty(m, subject, expected, what);
        };
        let mut subject = subject;
        if let Some(var) = &m.delta_from {
            let base = scope.get(var).and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            });
            let Some(base) = base else {
                return AssertionResult::new(
                    Kind::Metric,
                    subject,
                    expected,
                    format!("`{var}` was not captured"),
                    false,
                );
            };
            value -= base;
            subject = format!("{subject} delta since {var}");
        }
        let ok = ops(m).iter().all(|(op, b)| holds(op, value, *b));
        return AssertionResult::new(Kind::Metric, subject, expected, trim_float(value), ok);
    }
    if let Some(h) = &m.histogram {
        let q = m.quantile.unwrap_or(0.5);
        let by: Vec<&str> = m.by.iter().map(String::as_str).collect();
        return match expo.histogram_quantile(q, &h.selector, &by) {
            Err(e) => {
                let declared_empty = expo
                    .family(&h.selector.metric)
                    .is_some_and(|f| f.samples.is_empty());
                if declared_empty {
                    empty(
                        m,
                        subject,
                        expected,
                        "histogram declared but has no samples".into(),
                    )
                } else {
                    AssertionResult::new(Kind::Metric, subject, expected, e.to_string(), false)
                }
            }
            Ok(groups) => {
                let groups: Vec<_> = groups.into_iter().filter(|(_, v)| !v.is_nan()).collect();
                if groups.is_empty() {
                    return empty(m, subject, expected, "histogram has no observations".into());
                }
                let mut failing = Vec::new();
                let mut shown = Vec::new();
                for (labels, v) in &groups {
                    let name = if labels.is_empty() {
                        "all".to_string()
                    } else {
                        labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    };
                    shown.push(format!("{name}: {}", trim_float(*v)));
                    if !ops(m).iter().all(|(op, b)| holds(op, *v, *b)) {
                        failing.push(name);
                    }
                }
                let actual = if failing.is_empty() {
                    shown.join("; ")
                } else {
                    format!("{} (failing: {})", shown.join("; "), failing.join("; "))
                };
                AssertionResult::new(Kind::Metric, subject, expected, actual, failing.is_empty())
            }
        };
    }
    AssertionResult::new(
        Kind::Metric,
        subject,
        "family, sample or histogram",
        "none",
        false,
    )
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}").trim_end_matches('0').to_string()
    }
}
