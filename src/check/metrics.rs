//! Assertions on a Prometheus exposition.

use super::{AssertionResult, Kind, Observed};
use crate::metrics::{Exposition, Selector, family_delta, increase, snapshot_from_json};
use crate::scenario::model::{IfEmpty, MetricAssert};
use crate::scenario::template::Scope;

/// Observations a histogram quantile needs before it is judged, unless the
/// assertion sets `min_samples`. With 20, one outlier (a cold first query)
/// is no longer the p95 by itself.
pub const DEFAULT_MIN_SAMPLES: u32 = 20;

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

/// What a metric assertion looks at, as its results and reason key name it.
pub(super) fn subject(m: &MetricAssert) -> String {
    if let Some(f) = &m.family {
        format!("metric {}", f.value)
    } else if let Some(s) = &m.sample {
        format!("metric {}", s.source)
    } else if let Some(h) = &m.histogram {
        let by = if m.by.is_empty() {
            String::new()
        } else {
            format!(" by {}", m.by.join(","))
        };
        format!(
            "histogram {} p{}{by}",
            h.source,
            trim_float(m.quantile.unwrap_or(0.0) * 100.0)
        )
    } else {
        "metric".into()
    }
}

pub(super) fn assert(m: &MetricAssert, obs: &Observed<'_>, scope: &Scope) -> AssertionResult {
    let subject = subject(m);
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
    let ask = Ask {
        m,
        since: m.delta_from.as_ref().map(|v| v.value.as_str()),
        expected: expected_text(m),
        subject,
        expo,
        scope,
    };
    if let Some(s) = &m.sample {
        return sample(ask, &s.selector);
    }
    if let Some(h) = &m.histogram {
        return histogram(ask, &h.selector);
    }
    let Ask { subject, .. } = ask;
    AssertionResult::new(
        Kind::Metric,
        subject,
        "family, sample or histogram",
        "none",
        false,
    )
}

/// One metric assertion being answered: what it asks, how it reads in
/// the result, and what it is answered from.
struct Ask<'a> {
    m: &'a MetricAssert,
    /// The captured variable a `delta_from` assertion counts from.
    since: Option<&'a str>,
    subject: String,
    expected: String,
    expo: &'a Exposition,
    scope: &'a Scope,
}

/// A counter's sum, or its increase since a captured value (reset-aware:
/// a restart can never make the delta negative).
fn sample(ask: Ask<'_>, sel: &Selector) -> AssertionResult {
    let (m, since, expo, scope) = (ask.m, ask.since, ask.expo, ask.scope);
    let (subject, expected) = (ask.subject, ask.expected);
    let now = expo.sum(sel);
    let Some(var) = since else {
        let Some(value) = now else {
            let what = match expo.family(&sel.metric) {
                Some(f) if f.samples.is_empty() => "family declared but has no samples".to_string(),
                Some(_) => "no sample matches the labels".to_string(),
                None => "no such metric".to_string(),
            };
            return empty(m, subject, expected, what);
        };
        let ok = ops(m).iter().all(|(op, b)| holds(op, value, *b));
        return AssertionResult::new(Kind::Metric, subject, expected, trim_float(value), ok);
    };
    let subject = format!("{subject} delta since {var}");
    let base = scope.get(var).and_then(|v| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let Some(base) = base else {
        return AssertionResult::new(
            Kind::Metric,
            subject,
            expected,
            format!("`{var}` holds no captured number"),
            false,
        );
    };
    // A counter that has never been incremented is legitimately absent:
    // that reads as 0.
    let after = now.unwrap_or(0.0);
    let inc = increase(base, after);
    let ok = ops(m).iter().all(|(op, b)| holds(op, inc.value, *b));
    let mut actual = trim_float(inc.value);
    if now.is_none() {
        actual.push_str(" (no samples now)");
    }
    let mut r = AssertionResult::new(Kind::Metric, subject, expected, actual, ok);
    if inc.reset {
        r.warning = Some(reset_warning(var, base, after));
    }
    r
}

fn reset_warning(var: &str, before: f64, after: f64) -> String {
    format!(
        "counter reset: it went down from {} at `{var}` to {}, so the server restarted; the delta counts only what it saw since the restart",
        trim_float(before),
        trim_float(after)
    )
}

/// `{query_type="insert"}`, or nothing for the one group of an
/// assertion without `by`.
fn group_name(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}} ", inner.join(","))
}

/// A quantile per group, over the histogram's lifetime or (with
/// `delta_from`) over the observations since a captured snapshot. Groups
/// with fewer than `min_samples` observations are inconclusive: a warning,
/// never a failure.
fn histogram(ask: Ask<'_>, sel: &Selector) -> AssertionResult {
    let (m, since, expo, scope) = (ask.m, ask.since, ask.expo, ask.scope);
    let (subject, expected) = (ask.subject, ask.expected);
    let q = m.quantile.unwrap_or(0.5);
    let by: Vec<&str> = m.by.iter().map(String::as_str).collect();
    let min = m.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES);
    let base_name = sel.metric.strip_suffix("_bucket").unwrap_or(&sel.metric);
    let mut subject = subject;
    let mut reset = None;
    let windowed;
    let source = match since {
        None => expo,
        Some(var) => {
            subject = format!("{subject} since {var}");
            let Some(before) = scope.get(var).and_then(snapshot_from_json) else {
                return AssertionResult::new(
                    Kind::Metric,
                    subject,
                    expected,
                    format!("`{var}` holds no histogram capture (capture `metric: {base_name}`)"),
                    false,
                );
            };
            match expo.family(base_name).filter(|f| f.name == base_name) {
                // Missing or not a histogram: the query below says which.
                None => expo,
                Some(after) => {
                    let d = family_delta(Some(&before), after);
                    if d.resets > 0 {
                        reset = Some(format!(
                            "histogram reset: {} series went down since `{var}`, so the server restarted; the window counts only what it saw since the restart",
                            d.resets
                        ));
                    }
                    windowed = Exposition {
                        families: vec![d.family],
                    };
                    &windowed
                }
            }
        }
    };
    let groups = match source.histogram_quantiles(q, sel, &by) {
        Ok(g) => g,
        Err(e) => {
            let declared_empty = expo
                .family(&sel.metric)
                .is_some_and(|f| f.samples.is_empty());
            return if declared_empty {
                empty(
                    m,
                    subject,
                    expected,
                    "histogram declared but has no samples".into(),
                )
            } else {
                AssertionResult::new(Kind::Metric, subject, expected, e.to_string(), false)
            };
        }
    };
    let groups: Vec<_> = groups
        .into_iter()
        .filter(|g| !g.value.is_nan() && g.observations > 0.0)
        .collect();
    if groups.is_empty() {
        let what = match since {
            Some(var) => format!("histogram has no observations since `{var}`"),
            None => "histogram has no observations".to_string(),
        };
        let mut r = empty(m, subject, expected, what);
        if let Some(w) = reset {
            r.warning = Some(w);
        }
        return r;
    }
    let (mut judged, mut failing, mut inconclusive) = (Vec::new(), Vec::new(), Vec::new());
    for g in &groups {
        let text = format!(
            "{}{} ({} samples)",
            group_name(&g.labels),
            trim_float(g.value),
            trim_float(g.observations)
        );
        if g.observations < f64::from(min) {
            inconclusive.push(text);
        } else if ops(m).iter().all(|(op, b)| holds(op, g.value, *b)) {
            judged.push(text);
        } else {
            failing.push(text);
        }
    }
    let passed = failing.is_empty();
    let actual = if !passed {
        failing.join("; ")
    } else if judged.is_empty() {
        format!("inconclusive: {}", inconclusive.join("; "))
    } else {
        judged.join("; ")
    };
    let mut warnings: Vec<String> = Vec::new();
    if !inconclusive.is_empty() {
        warnings.push(format!(
            "inconclusive (fewer than min_samples {min}): {}",
            inconclusive.join("; ")
        ));
    }
    warnings.extend(reset);
    let mut r = AssertionResult::new(Kind::Metric, subject, expected, actual, passed);
    if !warnings.is_empty() {
        r.warning = Some(warnings.join("; "));
    }
    r
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::check::{Response, capture};
    use crate::scenario::model::Capture;

    fn response(text: &str) -> Response {
        Response {
            status: 200,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(text.to_string()),
            latency: std::time::Duration::ZERO,
        }
    }

    fn judge(yaml: &str, text: &str, scope: &Scope) -> AssertionResult {
        let m: MetricAssert = serde_saphyr::from_str(yaml).expect("assertion YAML");
        let resp = response(text);
        assert(&m, &Observed::new(&resp), scope)
    }

    /// `n_fast` observations under 10 ms and `n_slow` between 0.1 and 1 s,
    /// for query_type `t`.
    fn db(series: &[(&str, u32, u32)]) -> String {
        let mut s = String::from("# TYPE db_query_duration_seconds histogram\n");
        for (t, fast, slow) in series {
            let l = format!("query_type=\"{t}\"");
            s += &format!("db_query_duration_seconds_bucket{{{l},le=\"0.01\"}} {fast}\n");
            s += &format!("db_query_duration_seconds_bucket{{{l},le=\"0.1\"}} {fast}\n");
            s += &format!(
                "db_query_duration_seconds_bucket{{{l},le=\"1\"}} {}\n",
                fast + slow
            );
            s += &format!(
                "db_query_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}\n",
                fast + slow
            );
            s += &format!("db_query_duration_seconds_count{{{l}}} {}\n", fast + slow);
        }
        s
    }

    const P95_BY_TYPE: &str =
        "{ histogram: db_query_duration_seconds, quantile: 0.95, by: [query_type], lt: 0.1 }";

    #[test]
    fn a_quantile_over_too_few_observations_is_a_warning_not_a_failure() {
        let scope = Scope::new(BTreeMap::new());
        // One slow first INSERT out of three: p95 is far over budget, but
        // three observations prove nothing.
        let r = judge(
            P95_BY_TYPE,
            &db(&[("insert", 2, 1), ("select", 40, 0)]),
            &scope,
        );
        assert!(r.passed, "{r:?}");
        let w = r.warning.as_deref().expect("a warning");
        assert!(w.contains("inconclusive"), "{w}");
        assert!(
            w.contains(r#"{query_type="insert"}"#) && w.contains("(3 samples)"),
            "{w}"
        );
        assert!(w.contains("min_samples 20"), "{w}");

        // With enough observations the same shape fails, and says where.
        let r = judge(
            P95_BY_TYPE,
            &db(&[("insert", 20, 5), ("select", 40, 0)]),
            &scope,
        );
        assert!(!r.passed, "{r:?}");
        assert_eq!(
            r.subject,
            "histogram db_query_duration_seconds p95 by query_type"
        );
        assert_eq!(r.expected, "< 0.1");
        assert!(
            r.actual.starts_with(r#"{query_type="insert"} "#) && r.actual.ends_with("(25 samples)"),
            "{}",
            r.actual
        );
        assert!(!r.actual.contains("select"), "{}", r.actual);

        // min_samples is settable per assertion.
        let strict = "{ histogram: db_query_duration_seconds, quantile: 0.95, by: [query_type], lt: 0.1, min_samples: 2 }";
        let r = judge(strict, &db(&[("insert", 2, 1)]), &scope);
        assert!(!r.passed, "{r:?}");
    }

    #[test]
    fn delta_from_windows_a_quantile_to_observations_since_a_capture() {
        // Before: 5 slow cold-start queries among 30. After: 40 more, all fast.
        let before = db(&[("insert", 25, 5)]);
        let after = db(&[("insert", 65, 5)]);
        let mut scope = Scope::new(BTreeMap::new());
        let lifetime = judge(P95_BY_TYPE, &after, &scope);
        assert!(
            !lifetime.passed,
            "lifetime p95 sees the cold start: {lifetime:?}"
        );

        let caps: BTreeMap<String, Capture> =
            serde_saphyr::from_str("before: { metric: db_query_duration_seconds }").unwrap();
        let (values, failures) = capture(&caps, &response(&before));
        assert!(failures.is_empty(), "{failures:?}");
        for (k, v) in values {
            scope.set(&k, v);
        }
        let windowed = "{ histogram: db_query_duration_seconds, quantile: 0.95, by: [query_type], lt: 0.1, delta_from: before }";
        let r = judge(windowed, &after, &scope);
        assert!(r.passed, "{r:?}");
        assert!(r.warning.is_none(), "{r:?}");
        assert_eq!(
            r.subject,
            "histogram db_query_duration_seconds p95 by query_type since before"
        );
        assert!(r.actual.contains("(40 samples)"), "{}", r.actual);

        // Slow observations inside the window fail it.
        let slow_after = db(&[("insert", 45, 25)]);
        let r = judge(windowed, &slow_after, &scope);
        assert!(!r.passed, "{r:?}");
        assert!(r.actual.contains("(40 samples)"), "{}", r.actual);

        // Nothing observed since the capture: empty, not a stale lifetime value.
        let r = judge(windowed, &before, &scope);
        assert!(!r.passed, "{r:?}");
        assert!(
            r.actual.contains("no observations since `before`"),
            "{}",
            r.actual
        );

        // A counter captured as a number is no histogram snapshot.
        scope.set("n", serde_json::Value::from(3.0));
        let bad =
            "{ histogram: db_query_duration_seconds, quantile: 0.95, lt: 0.1, delta_from: n }";
        let r = judge(bad, &after, &scope);
        assert!(
            !r.passed && r.actual.contains("no histogram capture"),
            "{r:?}"
        );
    }

    const ERRORS: &str = "# TYPE http_requests_total counter\n";

    fn errors(n: u32) -> String {
        format!("{ERRORS}http_requests_total{{status_code=\"500\"}} {n}\n")
    }

    #[test]
    fn a_restart_between_capture_and_check_never_passes_le_zero_with_a_negative_delta() {
        let mut scope = Scope::new(BTreeMap::new());
        scope.set("before", serde_json::Value::from(5.0));
        let le0 =
            r#"{ sample: 'http_requests_total{status_code=~"5.."}', delta_from: before, le: 0 }"#;

        // No restart, two new 5xx: fails.
        let r = judge(le0, &errors(7), &scope);
        assert!(!r.passed && r.actual == "2", "{r:?}");

        // Restarted, then two 5xx: 2 - 5 = -3 would pass `le: 0`; the
        // increase since the restart is 2, which fails, with a reset warning.
        let r = judge(le0, &errors(2), &scope);
        assert!(!r.passed, "{r:?}");
        assert_eq!(r.actual, "2");
        assert!(
            r.warning.as_deref().unwrap_or("").contains("counter reset"),
            "{r:?}"
        );

        // Restarted and the series is gone: 0 since the restart, never -5,
        // and the report says a restart hid part of the window.
        let r = judge(le0, ERRORS, &scope);
        assert_eq!(r.actual, "0 (no samples now)");
        assert!(r.passed, "{r:?}");
        assert!(
            r.warning.as_deref().unwrap_or("").contains("restarted"),
            "{r:?}"
        );
        let ge0 =
            r#"{ sample: 'http_requests_total{status_code=~"5.."}', delta_from: before, ge: 0 }"#;
        assert!(judge(ge0, ERRORS, &scope).passed);
    }
}
