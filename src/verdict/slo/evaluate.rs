//! Judging measurements against the objectives: what each scope measured
//! and whether its bound held.

use serde::Serialize;

use super::{Metric, Objective, Op, SloSet, WHOLE_RUN};
use crate::measure::{Measurements, ScopeData};

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

/// The histogram and counts of a name, or of all names merged for `"*"`.
fn scope_data<'a>(m: &'a Measurements, scope: &str) -> Option<ScopeData<'a>> {
    if scope == WHOLE_RUN {
        return Some(m.all());
    }
    m.name(scope)
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
        return Ok(crate::measure::ms(d.histogram.value_at_quantile(q)));
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
