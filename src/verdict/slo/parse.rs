//! `--slo` strings: one objective each, checked and explained before the
//! attack so a typo never becomes a run judged by nothing.

use super::{Metric, Objective, Op, WHOLE_RUN};
use crate::scenario::values::{Ratio, parse_duration};

/// A `--slo` string that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --slo `{text}`: {reason}")]
pub struct SloParseError {
    /// The offending argument, verbatim.
    pub text: String,
    pub reason: String,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
