//! The assertion engine: one pure judgement of a response against a step's
//! expectations. `verify` and `load` both call it, so a check means the same
//! thing in a gate and under load.

mod body;
pub mod lines;
mod metrics;
mod seek;

use std::cell::OnceCell;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use crate::measure::fmt_duration;
use crate::metrics::Exposition;
use crate::scenario::Schemas;
use crate::scenario::model::{Capture, Count, DistinctAssert, Expect, IfEmpty};
use crate::scenario::template::Scope;

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
    /// The body is read by one plain-path body check and nothing else, so
    /// that check finds its value while reading ([`seek`]) instead of
    /// building the document.
    one_reader: bool,
}

impl<'a> Observed<'a> {
    pub fn new(response: &'a Response) -> Self {
        Observed {
            response,
            json: OnceCell::new(),
            metrics: OnceCell::new(),
            one_reader: false,
        }
    }

    /// For a step whose checks read the body once ([`reads_json_once`]).
    /// Describing a failure still parses the whole body, for its message.
    pub fn read_once(mut self) -> Self {
        self.one_reader = true;
        self
    }

    /// The value a plain `path` selects, found without building the
    /// document, when this body has one reader and nothing has parsed it
    /// yet; `None` otherwise. `Some(Err(()))`: the body is not JSON.
    fn seek(&self, path: &str) -> Option<Result<Option<Value>, ()>> {
        if !self.one_reader || self.json.get().is_some() {
            return None;
        }
        let path = seek::plain(path)?;
        Some(if self.response.body.is_empty() {
            Err(())
        } else {
            seek::find(&self.response.body, path).map_err(|_| ())
        })
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

impl Kind {
    /// The kind as `summary.json` and reason keys spell it (its serde name).
    pub fn key(self) -> &'static str {
        match self {
            Kind::Status => "status",
            Kind::Latency => "latency",
            Kind::Header => "header",
            Kind::Body => "body",
            Kind::Schema => "schema",
            Kind::Metric => "metric",
            Kind::Distinct => "distinct",
            Kind::Capture => "capture",
            Kind::ExitCode => "exit_code",
            Kind::Lines => "lines",
        }
    }

    /// The stable key of a failure: kind and subject, no values.
    pub fn reason_key(self, subject: &str) -> String {
        format!("{}:{subject}", self.key())
    }
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
        let reason_key = kind.reason_key(&subject);
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

/// One expectation of a step, in the order [`evaluate`] judges them. Under
/// load a response is first judged entry by entry to a bare pass or fail
/// ([`first_failure`]); the results, and the strings in them, are built only
/// for a failing entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Status,
    Latency,
    /// Index into the (sorted) `headers` map.
    Header(usize),
    Schema,
    Body(usize),
    Metric(usize),
}

/// The entries of `expect`. Order: status first (the most telling
/// failure), then latency, headers, schema, body and metrics.
pub fn entries(expect: &Expect, max_latency: bool) -> Vec<Entry> {
    let mut out = Vec::new();
    if expect.status.is_some() {
        out.push(Entry::Status);
    }
    if max_latency {
        out.push(Entry::Latency);
    }
    out.extend((0..expect.headers.len()).map(Entry::Header));
    if expect.schema.is_some() {
        out.push(Entry::Schema);
    }
    out.extend((0..expect.body.len()).map(Entry::Body));
    out.extend((0..expect.metrics.len()).map(Entry::Metric));
    out
}

/// The reason key every failure of `entry` is counted under; the same as
/// the `reason_key` of its results, computed once instead of per response.
pub fn reason_key(expect: &Expect, entry: Entry) -> String {
    match entry {
        Entry::Status => Kind::Status.reason_key("status"),
        Entry::Latency => Kind::Latency.reason_key("latency"),
        Entry::Header(i) => {
            let name = expect.headers.keys().nth(i).map(String::as_str);
            Kind::Header.reason_key(&body::header_subject(name.unwrap_or_default()))
        }
        Entry::Schema => {
            let name = expect.schema.as_ref().map(|n| n.value.as_str());
            Kind::Schema.reason_key(&format!("schema {}", name.unwrap_or_default()))
        }
        Entry::Body(i) => Kind::Body.reason_key(&expect.body[i].path.source),
        Entry::Metric(i) => Kind::Metric.reason_key(&metrics::subject(&expect.metrics[i].value)),
    }
}

/// The results of one entry, as [`evaluate`] gives them.
pub fn entry_results(
    expect: &Expect,
    entry: Entry,
    obs: &Observed<'_>,
    ctx: &Context<'_>,
) -> Vec<AssertionResult> {
    let resp = obs.response;
    match entry {
        Entry::Status => expect
            .status
            .iter()
            .map(|spec| {
                let ok = spec.0.iter().any(|m| m.matches(resp.status));
                AssertionResult::new(
                    Kind::Status,
                    "status",
                    spec.to_string(),
                    resp.status.to_string(),
                    ok,
                )
            })
            .collect(),
        Entry::Latency => ctx
            .max_latency
            .iter()
            .map(|budget| {
                AssertionResult::new(
                    Kind::Latency,
                    "latency",
                    format!("<= {}", fmt_duration(*budget)),
                    fmt_duration(resp.latency),
                    resp.latency <= *budget,
                )
            })
            .collect(),
        Entry::Header(i) => match expect.headers.iter().nth(i) {
            Some((name, h)) => body::header(name, h, resp, ctx.scope),
            None => Vec::new(),
        },
        Entry::Schema => expect
            .schema
            .iter()
            .map(|name| schema(&name.value, obs, ctx.schemas))
            .collect(),
        Entry::Body(i) => body::assert(&expect.body[i], obs, ctx.scope),
        Entry::Metric(i) => vec![metrics::assert(&expect.metrics[i].value, obs, ctx.scope)],
    }
}

/// Whether every result of `entry` passes: the verdict of
/// [`entry_results`], reached without building them where it can be (no
/// allocation for status, plain headers and body assertions, beyond the
/// body's one JSON parse).
fn entry_passes(expect: &Expect, entry: Entry, obs: &Observed<'_>, ctx: &Context<'_>) -> bool {
    let resp = obs.response;
    match entry {
        Entry::Status => expect
            .status
            .as_ref()
            .is_none_or(|spec| spec.0.iter().any(|m| m.matches(resp.status))),
        Entry::Latency => ctx.max_latency.is_none_or(|b| resp.latency <= b),
        Entry::Header(i) => expect
            .headers
            .iter()
            .nth(i)
            .is_none_or(|(name, h)| body::header_passes(name, h, resp, ctx.scope)),
        Entry::Schema => expect.schema.as_ref().is_none_or(|name| {
            match (ctx.schemas.get(&name.value), obs.json()) {
                (Some(v), Ok(json)) => v.is_valid(json),
                _ => false,
            }
        }),
        Entry::Body(i) => body::passes(&expect.body[i], obs, ctx.scope),
        Entry::Metric(_) => entry_results(expect, entry, obs, ctx)
            .iter()
            .all(|r| r.passed),
    }
}

/// Whether exactly one of `entries` reads the body as JSON, no capture
/// does, and that one is a body check with a plain path: such a step can
/// judge with [`Observed::read_once`].
pub fn reads_json_once(entries: &[Entry], expect: &Expect, captures: bool) -> bool {
    let mut readers = entries
        .iter()
        .filter(|e| matches!(e, Entry::Schema | Entry::Body(_)));
    match (readers.next(), readers.next()) {
        (Some(Entry::Body(i)), None) => {
            !captures && seek::plain(&expect.body[*i].path.source).is_some()
        }
        _ => false,
    }
}

/// The index (into `entries`) of the first entry with a failing result,
/// None when the response passes them all.
pub fn first_failure(
    entries: &[Entry],
    expect: &Expect,
    obs: &Observed<'_>,
    ctx: &Context<'_>,
) -> Option<usize> {
    entries
        .iter()
        .position(|e| !entry_passes(expect, *e, obs, ctx))
}

/// Judges one response: every result of every entry, in order.
pub fn evaluate(expect: &Expect, resp: &Response, ctx: &Context<'_>) -> Vec<AssertionResult> {
    let obs = Observed::new(resp);
    let mut out = Vec::new();
    for e in entries(expect, ctx.max_latency.is_some()) {
        out.extend(entry_results(expect, e, &obs, ctx));
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
    capture_from(captures, &Observed::new(resp))
}

/// [`capture`] from views already parsed (by the step's assertions), so a
/// body is parsed once.
pub fn capture_from(
    captures: &std::collections::BTreeMap<String, Capture>,
    obs: &Observed<'_>,
) -> (Vec<(String, Value)>, Vec<AssertionResult>) {
    let resp = obs.response;
    let mut values = Vec::new();
    let mut failures = Vec::new();
    for (name, cap) in captures {
        let got: Result<Value, String> = match cap {
            Capture::Path(p) => body::first(&p.path, obs).map_err(|e| format!("{} {e}", p.source)),
            Capture::Source(src) => {
                if let Some(p) = &src.path {
                    body::first(&p.path, obs).map_err(|e| format!("{} {e}", p.source))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(status: u16, body: &Value) -> Response {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.append("x-many", "a".parse().unwrap());
        headers.append("x-many", "b-1".parse().unwrap());
        Response {
            status,
            headers,
            body: bytes::Bytes::from(body.to_string()),
            latency: Duration::from_millis(3),
        }
    }

    #[test]
    fn only_a_lone_plain_body_check_reads_the_body_once() {
        let once = |yaml: &str, captures: bool| {
            let expect: Expect = serde_saphyr::from_str(yaml).expect("expectations");
            reads_json_once(&entries(&expect, false), &expect, captures)
        };
        assert!(once(
            "status: 200\nbody: [{ path: $.ok, equals: true }]",
            false
        ));
        assert!(once(
            "body: [{ path: \"$.a[0]['b']\", exists: true }]",
            false
        ));
        assert!(!once("body: [{ path: $.ok, equals: true }]", true));
        assert!(!once(
            "body: [{ path: $.a, exists: true }, { path: $.b, exists: true }]",
            false
        ));
        assert!(!once(
            "schema: s\nbody: [{ path: $.ok, equals: true }]",
            false
        ));
        assert!(!once("body: [{ path: \"$..ok\", equals: true }]", false));
        assert!(!once("status: 200", false));
    }

    /// The quick pass/fail of every entry must be the verdict of its full
    /// results, and the precomputed reason keys their keys, or load and
    /// verify would judge the same answer differently.
    #[test]
    fn quick_verdicts_and_reason_keys_agree_with_the_full_results() {
        let expect: Expect = serde_saphyr::from_str(
            r#"
status: [200, 2xx]
headers:
  Content-Type: { matches: "^application/json", contains: "json", present: true }
  x-many: { equals: "b-1" }
  x-absent: { present: false }
  x-templated: { equals: "${id}" }
body:
  - { path: $.ok, equals: true }
  - { path: $.ok, not_equals: false, type: boolean }
  - { path: "$.n", ">": 1, "<=": 5 }
  - { path: "$['n']", equals: 3.0 }
  - { path: $.s, matches: "^he", length: { ">=": 2, "<": 10 }, contains: "ll" }
  - { path: "$.a[1]", equals: 2 }
  - { path: $.a, length: 3, contains: 2, type: array }
  - { path: "$.a[*]", length: 3 }
  - { path: $.o.k, equals: "${id}" }
  - { path: $.o, contains: k, exists: true }
  - { path: $.missing, exists: false }
  - { path: $.missing, equals: 1 }
  - { path: $.n, type: integer }
  - { path: $.s, matches: "^\\d+$" }
  - { path: "$..k", equals: "x" }
"#,
        )
        .expect("expectations");
        let scope = Scope::new([("id".to_string(), json!("v"))].into());
        let schemas = Schemas::new();
        let ctx = Context {
            scope: &scope,
            schemas: &schemas,
            max_latency: Some(Duration::from_millis(5)),
        };
        let bodies = [
            json!({"ok": true, "n": 3, "s": "hello", "a": [1, 2, 3], "o": {"k": "v"}}),
            json!({"ok": false, "n": 7.5, "s": "h", "a": [], "o": {"k": "x"}, "missing": 1}),
            json!({"ok": "true", "n": "3", "s": 12, "a": {"1": 2}, "o": []}),
            json!([1, 2]),
            json!(null),
        ];
        let mut failures = 0;
        for (status, body) in [200, 201, 404]
            .into_iter()
            .zip(bodies.iter().cycle())
            .chain(bodies.iter().map(|b| (200, b)))
        {
            let resp = response(status, body);
            let obs = Observed::new(&resp);
            let all = entries(&expect, true);
            let mut full = Vec::new();
            for e in &all {
                let results = entry_results(&expect, *e, &obs, &ctx);
                let ok = results.iter().all(|r| r.passed);
                failures += usize::from(!ok);
                assert_eq!(
                    entry_passes(&expect, *e, &obs, &ctx),
                    ok,
                    "{e:?} on {body}: {results:?}"
                );
                // Judged as under load when it is a step's one reader of
                // the body (the value found while reading): the same.
                let once = Observed::new(&resp).read_once();
                assert_eq!(
                    entry_passes(&expect, *e, &once, &ctx),
                    ok,
                    "read once: {e:?} on {body}: {results:?}"
                );
                let key = reason_key(&expect, *e);
                assert!(
                    results.iter().all(|r| r.reason_key == key),
                    "{key} {results:?}"
                );
                full.extend(results);
            }
            assert_eq!(full, evaluate(&expect, &resp, &ctx));
            let first = first_failure(&all, &expect, &obs, &ctx);
            assert_eq!(
                first.map(|i| reason_key(&expect, all[i])),
                full.iter()
                    .find(|r| !r.passed)
                    .map(|r| r.reason_key.clone())
            );
        }
        assert!(failures > 20, "the cases must exercise failures too");
    }
}
