//! The assertion engine: one pure judgement of a response against a step's
//! expectations. `verify` and `load` both call it, so a check means the same
//! thing in a gate and under load.

mod body;
pub mod lines;
mod metrics;

use std::cell::OnceCell;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::metrics::Exposition;
use crate::scenario::Schemas;
use crate::scenario::model::{Capture, Count, DistinctAssert, Expect, IfEmpty};
use crate::scenario::template::Scope;

pub use body::json_type_name;

/// What came back for one request, as the engine sees it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
    /// From send to the last byte of the body.
    pub latency: Duration,
}

/// Parsed views of a body, computed at most once per response.
pub struct Observed<'a> {
    pub response: &'a Response,
    json: OnceCell<Result<Value, String>>,
    metrics: OnceCell<Result<Exposition, String>>,
}

impl<'a> Observed<'a> {
    pub fn new(response: &'a Response) -> Self {
        Observed {
            response,
            json: OnceCell::new(),
            metrics: OnceCell::new(),
        }
    }

    pub fn json(&self) -> Result<&Value, &str> {
        self.json
            .get_or_init(|| {
                if self.response.body.is_empty() {
                    return Err("the body is empty, not JSON".to_string());
                }
                serde_json::from_slice(&self.response.body).map_err(|e| {
                    format!(
                        "the body is not JSON ({e}): {}",
                        excerpt(&self.response.body, 80)
                    )
                })
            })
            .as_ref()
            .map_err(String::as_str)
    }

    pub fn metrics(&self) -> Result<&Exposition, &str> {
        self.metrics
            .get_or_init(|| {
                let text = std::str::from_utf8(&self.response.body)
                    .map_err(|_| "the body is not UTF-8 Prometheus text".to_string())?;
                crate::metrics::parse(text)
                    .map_err(|e| format!("the body is not Prometheus text: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Status,
    Latency,
    Header,
    Body,
    Schema,
    Metric,
    Distinct,
    Capture,
    ExitCode,
    Lines,
}

/// The verdict on one expectation: what was expected beside what came back,
/// so a report can show both without re-deriving anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssertionResult {
    pub kind: Kind,
    /// What was looked at: `status`, `$.title`, `header content-type`, ...
    pub subject: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    /// What the reader must know beside the verdict: the assertion passed
    /// only because the scenario allows an empty metric family
    /// (`if_empty: warn`), a quantile had too few observations to judge
    /// (inconclusive), or a counter was reset since its capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// A stable key for counting failures under load (no values in it).
    pub reason_key: String,
}

impl AssertionResult {
    /// `subject: expected X, got Y`: one failure as every report shows it.
    pub fn describe(&self) -> String {
        format!(
            "{}: expected {}, got {}",
            self.subject, self.expected, self.actual
        )
    }

    pub fn new(
        kind: Kind,
        subject: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
        passed: bool,
    ) -> Self {
        let subject = subject.into();
        let reason_key = format!(
            "{}:{}",
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            subject
        );
        AssertionResult {
            kind,
            subject,
            expected: expected.into(),
            actual: actual.into(),
            passed,
            warning: None,
            reason_key,
        }
    }
}

/// Everything the engine needs besides the response.
pub struct Context<'a> {
    pub scope: &'a Scope,
    pub schemas: &'a Schemas,
    /// Budget from the step or the scenario defaults.
    pub max_latency: Option<Duration>,
}

/// Judges one response. Order: status first (the most telling failure),
/// then latency, headers, schema, body and metrics.
pub fn evaluate(expect: &Expect, resp: &Response, ctx: &Context<'_>) -> Vec<AssertionResult> {
    let obs = Observed::new(resp);
    let mut out = Vec::new();
    if let Some(spec) = &expect.status {
        let ok = spec.0.iter().any(|m| m.matches(resp.status));
        out.push(AssertionResult::new(
            Kind::Status,
            "status",
            spec.to_string(),
            resp.status.to_string(),
            ok,
        ));
    }
    if let Some(budget) = ctx.max_latency {
        out.push(AssertionResult::new(
            Kind::Latency,
            "latency",
            format!("<= {}", fmt_duration(budget)),
            fmt_duration(resp.latency),
            resp.latency <= budget,
        ));
    }
    for (name, h) in &expect.headers {
        out.extend(body::header(name, h, resp, ctx.scope));
    }
    if let Some(name) = &expect.schema {
        out.push(schema(&name.value, &obs, ctx.schemas));
    }
    for b in &expect.body {
        out.extend(body::assert(b, &obs, ctx.scope));
    }
    for m in &expect.metrics {
        out.push(metrics::assert(&m.value, &obs, ctx.scope));
    }
    out
}

fn schema(name: &str, obs: &Observed<'_>, schemas: &Schemas) -> AssertionResult {
    let subject = format!("schema {name}");
    let Some(validator) = schemas.get(name) else {
        return AssertionResult::new(
            Kind::Schema,
            subject,
            "a loaded schema",
            "schema not loaded",
            false,
        );
    };
    let json = match obs.json() {
        Ok(j) => j,
        Err(e) => return AssertionResult::new(Kind::Schema, subject, "a JSON body", e, false),
    };
    let errors: Vec<String> = validator
        .iter_errors(json)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            format!("at {path}: {e}")
        })
        .collect();
    if errors.is_empty() {
        AssertionResult::new(Kind::Schema, subject, "valid", "valid", true)
    } else {
        AssertionResult::new(Kind::Schema, subject, "valid", errors.join("; "), false)
    }
}

/// A histogram named by its base name is captured whole (its matching
/// bucket series), so a later `delta_from` can take a quantile over what
/// was observed since; anything else is the sum of the matched samples, 0
/// when none match (a counter never incremented).
fn metric_capture(e: &Exposition, sel: &crate::metrics::Selector) -> Value {
    match e.family(&sel.metric).filter(|f| {
        f.name == sel.metric
            && matches!(
                f.kind,
                crate::metrics::MetricKind::Histogram | crate::metrics::MetricKind::GaugeHistogram
            )
    }) {
        Some(f) => crate::metrics::snapshot_to_json(f, sel),
        None => Value::from(e.sum(sel).unwrap_or(0.0)),
    }
}

/// Values a step captures for later steps. A capture that finds nothing is
/// a failed assertion: later steps could only fail more confusingly.
pub fn capture(
    captures: &std::collections::BTreeMap<String, Capture>,
    resp: &Response,
) -> (Vec<(String, Value)>, Vec<AssertionResult>) {
    let obs = Observed::new(resp);
    let mut values = Vec::new();
    let mut failures = Vec::new();
    for (name, cap) in captures {
        let got: Result<Value, String> = match cap {
            Capture::Path(p) => body::first(&p.path, &obs).map_err(|e| format!("{} {e}", p.source)),
            Capture::Source(src) => {
                if let Some(p) = &src.path {
                    body::first(&p.path, &obs).map_err(|e| format!("{} {e}", p.source))
                } else if let Some(h) = &src.header {
                    resp.headers
                        .get(h.as_str())
                        .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                        .ok_or_else(|| format!("header {h} is absent"))
                } else if let Some(m) = &src.metric {
                    obs.metrics()
                        .map(|e| metric_capture(e, &m.selector))
                        .map_err(str::to_string)
                } else {
                    Err("nothing to capture".to_string())
                }
            }
        };
        match got {
            Ok(v) => values.push((name.clone(), v)),
            Err(e) => failures.push(AssertionResult::new(
                Kind::Capture,
                format!("capture {name}"),
                "a value",
                e,
                false,
            )),
        }
    }
    (values, failures)
}

/// Assertions across the answers of a repeated step.
pub fn distinct(
    asserts: &[DistinctAssert],
    responses: &[Response],
    scope: &Scope,
) -> Vec<AssertionResult> {
    asserts
        .iter()
        .map(|d| {
            let subject = format!("distinct {}", d.path.source);
            let count = |c: &Option<Count>| -> Result<Option<u32>, String> {
                match c {
                    None => Ok(None),
                    Some(Count::Number(n)) => Ok(Some(*n)),
                    Some(Count::Var(v)) => {
                        let s = scope.render(v)?;
                        s.trim()
                            .parse()
                            .map(Some)
                            .map_err(|_| format!("`{v}` is `{s}`, not a whole number"))
                    }
                }
            };
            let (lo, hi) = match (count(&d.at_least), count(&d.at_most)) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    return AssertionResult::new(Kind::Distinct, subject, "a count", e, false);
                }
            };
            let mut seen: Vec<String> = Vec::new();
            for r in responses {
                let obs = Observed::new(r);
                if let Ok(v) = body::first(&d.path.path, &obs) {
                    let s = v.to_string();
                    if !seen.contains(&s) {
                        seen.push(s);
                    }
                }
            }
            let n = seen.len() as u32;
            let expected = match (lo, hi) {
                (Some(a), Some(b)) => format!("{a}..={b} distinct values"),
                (Some(a), None) => format!(">= {a} distinct values"),
                (None, Some(b)) => format!("<= {b} distinct values"),
                (None, None) => "any number of distinct values".to_string(),
            };
            if n == 0 && d.if_missing != IfEmpty::Fail {
                let what = format!("no answer has {}", d.path.source);
                let mut r =
                    AssertionResult::new(Kind::Distinct, subject, expected, what.clone(), true);
                if d.if_missing == IfEmpty::Warn {
                    r.warning = Some(what);
                }
                return r;
            }
            let ok = lo.is_none_or(|m| n >= m) && hi.is_none_or(|m| n <= m);
            let shown: Vec<&str> = seen.iter().take(5).map(String::as_str).collect();
            AssertionResult::new(
                Kind::Distinct,
                subject,
                expected,
                format!(
                    "{n} over {} answers [{}]",
                    responses.len(),
                    shown.join(", ")
                ),
                ok,
            )
        })
        .collect()
}

/// Milliseconds with enough precision for budgets in the tens of ms.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

/// A short, single-line, printable excerpt of a body.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(body);
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}
