//! Service-level objectives of a load run: parsing `--slo` strings, merging
//! them with the scenarios' `slo:` maps, and judging measurements against
//! them. Pure functions: no I/O, so every rule here is unit-testable.
//!
//! Rules worth knowing:
//! - Scenario SLOs are merged by request name; when two scenarios bound the
//!   same metric of the same name, the stricter bound wins (both authors'
//!   objectives must hold). `--slo` then adds or replaces.
//! - `"*"` judges the whole run: all names' histograms merged, counts summed.
//! - Error budget: every measured request name gets an error-rate check. Its
//!   budget is the name's own `error_rate`, else the run-wide (`"*"`)
//!   `error_rate` (so one failing endpoint cannot hide behind many healthy
//!   ones), else **zero failed requests**: a load test of a fresh deploy
//!   should not produce errors unless someone said it may.
//! - Transport errors (timeouts, refused connections) count as failed
//!   requests; they have no latency, so percentiles cover completed answers.

use std::borrow::Cow;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use crate::measure::metric::Metric;
use crate::measure::{Measurements, new_histogram};
use crate::scenario::model::Slo;
use crate::scenario::values::{Ratio, parse_duration};

/// Scope key of objectives that judge the whole run.
pub const WHOLE_RUN: &str = "*";

/// Origin of the p99 objectives derived from steps' `max_latency`.
const BUDGET_ORIGIN: &str = "the step's max_latency";

/// SLO-only faces of a metric: how a bound and a measured value read.
impl Metric {
    /// Throughput is the only metric where more is better.
    fn is_lower_bound(self) -> bool {
        !self.higher_is_worse()
    }

    /// Formats a value of this metric for people (`312.4 ms`, `0.5%`).
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::ErrorRate => format!("{}%", num(v * 100.0)),
            Metric::Rps => format!("{}/s", num(v)),
            Metric::Server5xx => num(v),
            _ => format!("{} ms", num(v)),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Metric::ErrorRate => "error rate",
            Metric::Rps => "throughput",
            Metric::Server5xx => "server 5xx count",
            m => m.key(),
        }
    }
}

/// Comparison an objective requires of the measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => actual < threshold,
            Op::Le => actual <= threshold,
            Op::Gt => actual > threshold,
            Op::Ge => actual >= threshold,
        }
    }

    fn is_upper(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// One bound, in the metric's unit (see [`Metric::unit`]).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Objective {
    pub op: Op,
    pub threshold: f64,
    /// Where it came from: a scenario file, `--slo`, or a default budget.
    pub origin: String,
}

impl Objective {
    /// True when `self` is at least as strict as `other` (same direction).
    fn stricter_than(&self, other: &Objective) -> bool {
        let strict = |o: Op| matches!(o, Op::Lt | Op::Gt);
        if self.threshold == other.threshold {
            return strict(self.op) || !strict(other.op);
        }
        if self.op.is_upper() {
            self.threshold < other.threshold
        } else {
            self.threshold > other.threshold
        }
    }

    /// `200 ms`, `< 200 ms`, `>= 100/s`: `<=` is how people read an upper
    /// threshold, so it goes unsaid.
    pub fn describe(&self, metric: Metric) -> String {
        match self.op {
            Op::Le => metric.show(self.threshold),
            op => format!("{} {}", op.symbol(), metric.show(self.threshold)),
        }
    }
}

/// A `--slo` string that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --slo `{text}`: {reason}")]
pub struct SloParseError {
    /// The offending argument, verbatim.
    pub text: String,
    pub reason: String,
}

/// One objective with its scope, as reports record it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RecordedObjective {
    pub scope: String,
    pub metric: Metric,
    #[serde(flatten)]
    pub objective: Objective,
}

/// The objectives of a run, by scope (request name or `"*"`) and metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloSet {
    objectives: BTreeMap<(String, Metric), Objective>,
}

/// How one objective fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloResult {
    /// Request name, or `"*"` for the whole run.
    pub scope: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    /// None when nothing could be measured (see `reason`).
    pub actual: Option<f64>,
    pub unit: &'static str,
    pub passed: bool,
    pub origin: String,
    /// Why `actual` is missing, e.g. `server metrics unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// One line for people: `p95 of "x" was 312.4 ms, threshold 200 ms`.
    pub message: String,
}

impl SloSet {
    /// Every scope must be `"*"` or a request name the run can measure;
    /// checked before the attack, with a did-you-mean.
    pub fn check_scopes(&self, names: &std::collections::BTreeSet<String>) -> Result<(), String> {
        let mut problems = Vec::new();
        for ((scope, _), obj) in &self.objectives {
            if scope == WHOLE_RUN || names.contains(scope) {
                continue;
            }
            let close = names
                .iter()
                .map(|n| (strsim::levenshtein(n, scope), n))
                .filter(|(d, n)| *d <= 3.max(n.len() / 4))
                .min();
            let hint = match close {
                Some((_, n)) => format!("; did you mean \"{n}\"?"),
                None => format!(
                    "; the request names are: {}",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let p = format!(
                "SLO scope \"{scope}\" (from {}) names no request of the selected scenarios{hint}",
                obj.origin
            );
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Adds one objective as a run's report recorded it (`merge` judges
    /// the whole by the objectives its shards were judged by); on conflicts
    /// the stricter bound stays.
    pub fn add_recorded(&mut self, scope: &str, metric: Metric, new: Objective) {
        let key = (scope.to_string(), metric);
        match self.objectives.get(&key) {
            Some(old) if !new.stricter_than(old) => {}
            _ => {
                self.objectives.insert(key, new);
            }
        }
    }

    /// Every objective as (scope, metric, bound): what a shard records so
    /// that `merge` judges the whole run by the same ones.
    pub fn recorded(&self) -> Vec<RecordedObjective> {
        self.objectives
            .iter()
            .map(|((scope, metric), o)| RecordedObjective {
                scope: scope.clone(),
                metric: *metric,
                objective: o.clone(),
            })
            .collect()
    }

    /// The set without objectives on `metric` (a shard leaves the server's
    /// 5xx count, a whole-run figure, to `merge`).
    pub fn without(&self, metric: Metric) -> SloSet {
        SloSet {
            objectives: self
                .objectives
                .iter()
                .filter(|((_, m), _)| *m != metric)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    pub fn get(&self, scope: &str, metric: Metric) -> Option<&Objective> {
        self.objectives.get(&(scope.to_string(), metric))
    }

    /// Merges one scenario's `slo:` map; on conflicts the stricter bound
    /// stays. `server_5xx` is a whole-run figure wherever it is written.
    pub fn add_scenario(&mut self, origin: &str, slos: &BTreeMap<String, Slo>) {
        for (scope, slo) in slos {
            for (metric, op, threshold) in slo_bounds(slo) {
                let scope = if metric == Metric::Server5xx {
                    WHOLE_RUN
                } else {
                    scope.as_str()
                };
                let new = Objective {
                    op,
                    threshold,
                    origin: format!("scenario {origin}"),
                };
                let key = (scope.to_string(), metric);
                match self.objectives.get(&key) {
                    Some(old) if !new.stricter_than(old) => {}
                    _ => {
                        self.objectives.insert(key, new);
                    }
                }
            }
        }
    }

    /// Under load a step's `max_latency` is judged as its p99: a load test
    /// measures a distribution, and one scheduler hiccup in thousands of
    /// requests must not fail the gate, while a budget most requests miss
    /// must. An explicit p99 (scenario `slo:` or `--slo`) wins over the
    /// budget; among steps of one name the stricter budget stays.
    pub fn add_budgets(&mut self, file: &crate::scenario::ScenarioFile) {
        let sc = &file.scenario;
        let explicit: Vec<&String> = self
            .objectives
            .iter()
            .filter(|((_, m), o)| *m == Metric::P99 && !o.origin.starts_with(BUDGET_ORIGIN))
            .map(|((s, _), _)| s)
            .collect();
        let mut derived = Vec::new();
        for step in sc.steps.iter().chain(&sc.teardown) {
            let step = &step.value;
            let Some(budget) = step.expect.max_latency.or(sc.defaults.max_latency) else {
                continue;
            };
            if explicit.contains(&&step.name) {
                continue;
            }
            derived.push((
                step.name.clone(),
                Objective {
                    op: Op::Le,
                    threshold: budget.0.as_secs_f64() * 1000.0,
                    origin: format!("{BUDGET_ORIGIN} in {}", file.path.display()),
                },
            ));
        }
        for (name, new) in derived {
            let key = (name, Metric::P99);
            match self.objectives.get(&key) {
                Some(old) if !new.stricter_than(old) => {}
                _ => {
                    self.objectives.insert(key, new);
                }
            }
        }
    }

    /// Adds (or replaces) objectives from `--slo` arguments.
    pub fn add_cli(&mut self, args: &[String]) -> Result<(), SloParseError> {
        for a in args {
            let (scope, metric, obj) = parse_slo(a)?;
            self.objectives.insert((scope, metric), obj);
        }
        Ok(())
    }

    /// Judges the measurements: the explicit objectives (whole run first,
    /// then by name), then each measured name's error budget when no
    /// objective of its own covers it.
    pub fn evaluate(&self, m: &Measurements) -> Vec<SloResult> {
        let mut out: Vec<SloResult> = Vec::new();
        let mut scopes: Vec<&str> = self.objectives.keys().map(|(s, _)| s.as_str()).collect();
        scopes.dedup();
        // "*" sorts first in ASCII already; keep that explicit.
        scopes.sort_by_key(|s| (*s != WHOLE_RUN, *s));
        for scope in scopes {
            for ((s, metric), obj) in self.objectives.range((scope.to_string(), Metric::P50)..) {
                if s != scope {
                    break;
                }
                out.push(judge(m, scope, *metric, obj));
            }
        }
        for name in m.requests.keys() {
            if self.get(name, Metric::ErrorRate).is_some() {
                continue;
            }
            let budget = match self.get(WHOLE_RUN, Metric::ErrorRate) {
                Some(run) => Objective {
                    origin: format!("run-wide error_rate ({})", run.origin),
                    ..run.clone()
                },
                None => Objective {
                    op: Op::Le,
                    threshold: 0.0,
                    origin: "default error budget: no failed requests".into(),
                },
            };
            out.push(judge(m, name, Metric::ErrorRate, &budget));
        }
        out
    }
}

/// Builds the run's objectives from the scenarios and the command line.
pub fn slo_set(
    scenarios: &[&crate::scenario::ScenarioFile],
    cli: &[String],
) -> Result<SloSet, SloParseError> {
    let mut set = SloSet::default();
    for s in scenarios {
        set.add_scenario(&s.path.display().to_string(), &s.scenario.slo);
    }
    for s in scenarios {
        set.add_budgets(s);
    }
    set.add_cli(cli)?;
    Ok(set)
}

fn slo_bounds(slo: &Slo) -> Vec<(Metric, Op, f64)> {
    let ms = |d: &crate::scenario::values::HumanDuration| d.0.as_secs_f64() * 1000.0;
    let mut v = Vec::new();
    for (metric, d) in [
        (Metric::P50, &slo.p50),
        (Metric::P90, &slo.p90),
        (Metric::P95, &slo.p95),
        (Metric::P99, &slo.p99),
        (Metric::Max, &slo.max),
    ] {
        if let Some(d) = d {
            v.push((metric, Op::Le, ms(d)));
        }
    }
    if let Some(r) = &slo.error_rate {
        v.push((Metric::ErrorRate, Op::Le, r.0));
    }
    if let Some(r) = slo.min_rps {
        v.push((Metric::Rps, Op::Ge, r));
    }
    if let Some(n) = slo.server_5xx {
        v.push((Metric::Server5xx, Op::Le, n as f64));
    }
    v
}

/// Parses `[NAME:]METRIC<op>VALUE`, e.g. `p95<200ms`,
/// `health is healthy:p99<=500ms`, `error_rate<0.1%`, `rps>=100`,
/// `server_5xx<=0`. The name is everything before the last `:` (names may
/// contain spaces; values never contain a colon).
pub fn parse_slo(text: &str) -> Result<(String, Metric, Objective), SloParseError> {
    let err = |reason: String| SloParseError {
        text: text.to_string(),
        reason,
    };
    let (scope, expr) = match text.rsplit_once(':') {
        Some((name, expr)) => {
            let name = name.trim();
            if name.is_empty() {
                return Err(err("empty request name before `:`".into()));
            }
            (name.to_string(), expr)
        }
        None => (WHOLE_RUN.to_string(), text),
    };
    let Some(at) = expr.find(['<', '>']) else {
        return Err(err(
            "expected [NAME:]METRIC<op>VALUE with op <, <=, > or >=, e.g. `p95<200ms`".into(),
        ));
    };
    let metric_text = expr[..at].trim();
    let rest = &expr[at..];
    let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Op::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Op::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Op::Lt, v)
    } else {
        (Op::Gt, &rest[1..])
    };
    let value = value.trim();
    let metric = Metric::parse(metric_text).and_then(Metric::as_slo).ok_or_else(|| {
        err(format!(
            "unknown metric `{metric_text}` (expected p50, p90, p95, p99, max, error_rate, rps or server_5xx)"
        ))
    })?;
    if metric.is_lower_bound() == op.is_upper() {
        let want = if metric.is_lower_bound() {
            "> or >="
        } else {
            "< or <="
        };
        return Err(err(format!("{metric} is bounded with {want}")));
    }
    if metric == Metric::Server5xx && scope != WHOLE_RUN {
        return Err(err(
            "server_5xx applies to the whole run only (drop the name)".into(),
        ));
    }
    if value.is_empty() {
        return Err(err("missing value after the operator".into()));
    }
    let threshold = match metric {
        Metric::ErrorRate => {
            parse_ratio(value).map_err(|e| err(format!("invalid ratio `{value}`: {e}")))?
        }
        Metric::Rps => {
            let v = value.strip_suffix("/s").unwrap_or(value).trim();
            match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => x,
                _ => {
                    return Err(err(format!(
                        "invalid requests per second `{value}`: expected e.g. 100"
                    )));
                }
            }
        }
        Metric::Server5xx => value
            .parse::<u64>()
            .map_err(|_| err(format!("invalid count `{value}`: expected a whole number")))?
            as f64,
        _ => parse_duration(value).map_err(err)?.as_secs_f64() * 1000.0,
    };
    Ok((
        scope,
        metric,
        Objective {
            op,
            threshold,
            origin: "--slo".into(),
        },
    ))
}

/// Reuses the scenario format's ratio parsing (`0.1%` or `0.001`) so both
/// spellings mean the same on the command line and in files.
fn parse_ratio(s: &str) -> Result<f64, String> {
    use serde::Deserialize as _;
    let v = match s.trim().parse::<f64>() {
        Ok(x) => serde_json::json!(x),
        Err(_) => serde_json::Value::String(s.to_string()),
    };
    Ratio::deserialize(v)
        .map(|r| r.0)
        .map_err(|e| e.to_string())
}

/// What one scope measured.
pub(crate) struct ScopeData<'a> {
    pub histogram: Cow<'a, Histogram<u64>>,
    pub count: u64,
    pub errors: u64,
}

/// The histogram and counts of a name, or of all names merged for `"*"`.
pub(crate) fn scope_data<'a>(m: &'a Measurements, scope: &str) -> Option<ScopeData<'a>> {
    if scope == WHOLE_RUN {
        return Some(all_data(m));
    }
    m.requests.get(scope).map(|r| ScopeData {
        histogram: Cow::Borrowed(&r.histogram),
        count: r.count,
        errors: r.error_count(),
    })
}

/// Every name merged: the "all" aggregate of the reports.
pub(crate) fn all_data(m: &Measurements) -> ScopeData<'static> {
    let mut h = new_histogram();
    let (mut count, mut errors) = (0, 0);
    for r in m.requests.values() {
        // Same bounds everywhere (model::new_histogram); an add can only
        // fail on a value beyond them, which the recorder already refused.
        let _ = h.add(&r.histogram);
        count += r.count;
        errors += r.error_count();
    }
    ScopeData {
        histogram: Cow::Owned(h),
        count,
        errors,
    }
}

fn judge(m: &Measurements, scope: &str, metric: Metric, obj: &Objective) -> SloResult {
    let measured: Result<f64, String> = match metric {
        Metric::Server5xx => m
            .server
            .as_ref()
            .map(|s| s.total_5xx)
            .ok_or_else(|| "server metrics unavailable".to_string()),
        _ => match scope_data(m, scope) {
            None => Err(format!("no requests named \"{scope}\" were made")),
            Some(d) => measure(m, &d, metric),
        },
    };
    let subject = if scope == WHOLE_RUN {
        "the whole run".to_string()
    } else {
        format!("\"{scope}\"")
    };
    let (actual, passed, reason) = match measured {
        Ok(v) => (Some(v), obj.op.holds(v, obj.threshold), None),
        Err(r) => (None, false, Some(r)),
    };
    let message = match (&actual, &reason) {
        (Some(v), _) => format!(
            "{} of {subject} was {}, threshold {}",
            metric.label(),
            metric.show(*v),
            obj.describe(metric)
        ),
        (None, r) => format!(
            "{} of {subject}: {}, threshold {}",
            metric.label(),
            r.as_deref().unwrap_or("not measured"),
            obj.describe(metric)
        ),
    };
    SloResult {
        scope: scope.to_string(),
        metric,
        op: obj.op,
        threshold: obj.threshold,
        actual,
        unit: metric.unit(),
        passed,
        origin: obj.origin.clone(),
        reason,
        message,
    }
}

fn measure(m: &Measurements, d: &ScopeData<'_>, metric: Metric) -> Result<f64, String> {
    if let Some(q) = metric.quantile() {
        if d.histogram.is_empty() {
            return Err("no completed responses to measure".into());
        }
        return Ok(d.histogram.value_at_quantile(q) as f64 / 1000.0);
    }
    match metric {
        Metric::ErrorRate if d.count == 0 => Err("no requests were made".into()),
        Metric::ErrorRate => Ok(d.errors as f64 / d.count as f64),
        Metric::Rps => {
            let secs = m.elapsed.as_secs_f64();
            if secs > 0.0 {
                Ok(d.count as f64 / secs)
            } else {
                Err("the run took no time".into())
            }
        }
        _ => Err("not measurable per request".into()),
    }
}

/// A number for people: at most 3 decimals, no trailing zeros.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_budgets_become_p99_objectives_unless_a_p99_is_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.yaml");
        std::fs::write(
            &f,
            "version: 1\nname: s\ndefaults: { max_latency: 500ms }\nslo:\n  b: { p99: 900ms }\nsteps:\n  - name: a\n    request: { path: /a }\n    expect: { max_latency: 200ms }\n  - name: b\n    request: { path: /b }\n  - name: c\n    request: { path: /c }\n",
        )
        .unwrap();
        let file = crate::scenario::read_file(&f, &Default::default()).expect("valid");
        let set = slo_set(&[&file], &["c:p99<=50ms".into()]).unwrap();
        let p99 = |n: &str| set.get(n, Metric::P99).map(|o| o.threshold);
        assert_eq!(p99("a"), Some(200.0), "the step's own budget");
        assert_eq!(p99("b"), Some(900.0), "the scenario's explicit p99 wins");
        assert_eq!(p99("c"), Some(50.0), "--slo wins");
        assert!(
            set.get("a", Metric::P99)
                .unwrap()
                .origin
                .contains("max_latency")
        );
    }

    fn ok(s: &str) -> (String, Metric, Op, f64) {
        let (scope, m, o) = parse_slo(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (scope, m, o.op, o.threshold)
    }

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(ok("p95<200ms"), ("*".into(), Metric::P95, Op::Lt, 200.0));
        assert_eq!(
            ok("health is healthy:p99<=500ms"),
            ("health is healthy".into(), Metric::P99, Op::Le, 500.0)
        );
        assert_eq!(ok("error_rate<0.1%").3, 0.001);
        assert_eq!(ok("error_rate<=0.02").3, 0.02);
        assert_eq!(ok("rps>=100"), ("*".into(), Metric::Rps, Op::Ge, 100.0));
        assert_eq!(
            ok("server_5xx<=0"),
            ("*".into(), Metric::Server5xx, Op::Le, 0.0)
        );
        assert_eq!(ok("max < 1.5s").3, 1500.0);
        assert_eq!(ok("*:p50<10ms").0, "*");
    }

    #[test]
    fn rejects_with_the_offending_text() {
        for bad in [
            "p95",
            "p95<",
            "p95<200",
            "p97<200ms",
            "p95>200ms",
            "rps<100",
            "error_rate<5",
            "error_rate<abc",
            "api:server_5xx<=0",
            ":p95<1s",
            "server_5xx<=1.5",
            "rps>=-3",
        ] {
            let e = parse_slo(bad).expect_err(bad);
            assert_eq!(e.text, bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn stricter_scenario_bound_wins_and_cli_overrides() {
        let mut a = BTreeMap::new();
        a.insert(
            "x".to_string(),
            Slo {
                p95: Some(crate::scenario::values::HumanDuration(
                    std::time::Duration::from_millis(300),
                )),
                ..Slo::default()
            },
        );
        let mut b = a.clone();
        b.get_mut("x").unwrap().p95 = Some(crate::scenario::values::HumanDuration(
            std::time::Duration::from_millis(200),
        ));
        let mut set = SloSet::default();
        set.add_scenario("a.yaml", &a);
        set.add_scenario("b.yaml", &b);
        set.add_scenario("a.yaml", &a);
        assert_eq!(set.get("x", Metric::P95).unwrap().threshold, 200.0);
        set.add_cli(&["x:p95<=400ms".into()]).unwrap();
        assert_eq!(set.get("x", Metric::P95).unwrap().threshold, 400.0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(200.0), "200");
        assert_eq!(num(312.4), "312.4");
        assert_eq!(Metric::ErrorRate.show(0.001), "0.1%");
    }
}
