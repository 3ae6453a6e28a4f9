//! How much worse a metric may get before the gate calls it a regression.
//! A tolerance is relative (`+10%` of the baseline), absolute (`+5ms`,
//! `+0.1pt` of error rate, `-20/s` of rate) or both, in which case the
//! larger allowance wins: `+20%,+5ms` lets a 1 ms p99 move by 5 ms
//! (timer noise) and a 300 ms p99 by 60 ms.
//!
//! Sources, most specific first: `--regress NAME:METRIC:TOL`, `--regress
//! METRIC:TOL`, a scenario's `regress:` for the name, its `"*"` entry,
//! then the defaults (p50 and p95 +10%, p99 +20%, error rate +0.1 points,
//! achieved rate −5%).

use std::collections::BTreeMap;

pub use crate::measure::metric::{Metric as RMetric, Tolerance};

pub fn default_tolerance(m: RMetric) -> Tolerance {
    match m {
        RMetric::P50 | RMetric::P95 => Tolerance {
            pct: Some(10.0),
            abs: None,
        },
        RMetric::P99 => Tolerance {
            pct: Some(20.0),
            abs: None,
        },
        RMetric::ErrorRate => Tolerance {
            pct: None,
            abs: Some(0.001),
        },
        RMetric::Rate => Tolerance {
            pct: Some(5.0),
            abs: None,
        },
        // Never compared by the gate (see `RMetric::as_tolerance`).
        _ => Tolerance::default(),
    }
}

/// Every tolerance the run was given, by (scope, metric); scope `"*"` is
/// every request name.
#[derive(Debug, Clone, Default)]
pub struct Tolerances {
    cli: BTreeMap<(String, RMetric), Tolerance>,
    scenario: BTreeMap<(String, RMetric), Tolerance>,
}

pub const ANY: &str = "*";

impl Tolerances {
    /// The tolerance of `name`'s `metric` and where it came from.
    pub fn get(&self, name: &str, metric: RMetric) -> (Tolerance, &'static str) {
        for (map, origin) in [(&self.cli, "--regress"), (&self.scenario, "scenario")] {
            for scope in [name, ANY] {
                if let Some(t) = map.get(&(scope.to_string(), metric)) {
                    return (*t, origin);
                }
            }
        }
        (default_tolerance(metric), "default")
    }

    /// `--regress` specs: `METRIC:TOL[,TOL]` or `NAME:METRIC:TOL[,TOL]`.
    pub fn add_cli(&mut self, specs: &[String]) -> Result<(), String> {
        for spec in specs {
            let (scope, metric, tol) = parse_spec(spec)?;
            self.cli.insert((scope, metric), tol);
        }
        Ok(())
    }

    /// A scenario's `regress:` map: name (or `"*"`) → metric → TOL.
    pub fn add_scenario(
        &mut self,
        file: &str,
        map: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<(), String> {
        for (scope, metrics) in map {
            for (metric, tol) in metrics {
                let m = RMetric::parse(metric).and_then(RMetric::as_tolerance).ok_or_else(|| {
                    format!(
                        "{file}: regress.{scope:?}: unknown metric `{metric}` (expected p50, p95, p99, error_rate or rate)"
                    )
                })?;
                let t = parse_tolerance(m, tol)
                    .map_err(|e| format!("{file}: regress.{scope:?}.{metric}: {e}"))?;
                self.scenario.insert((scope.clone(), m), t);
            }
        }
        Ok(())
    }

    /// Scopes that name no request of the run (a typo would silently fall
    /// back to the defaults).
    pub fn unknown_scopes(&self, names: &std::collections::BTreeSet<String>) -> Vec<String> {
        self.cli
            .keys()
            .chain(self.scenario.keys())
            .map(|(s, _)| s)
            .filter(|s| s.as_str() != ANY && !names.contains(*s))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Splits from the right: request names may contain `:`.
pub fn parse_spec(spec: &str) -> Result<(String, RMetric, Tolerance), String> {
    let bad = |why: &str| {
        format!(
            "--regress `{spec}`: {why} (expected `p95:+10%`, `p99:+20%,+5ms`, `error_rate:+0.1pt`, `rate:-5%` or `NAME:p99:+20%`)"
        )
    };
    let mut parts = spec.rsplitn(3, ':');
    let tol = parts.next().ok_or_else(|| bad("empty"))?;
    let metric = parts.next().ok_or_else(|| bad("no metric"))?;
    let scope = parts.next().map(str::trim).unwrap_or(ANY);
    if scope.is_empty() {
        return Err(bad("empty request name"));
    }
    let m = RMetric::parse(metric)
        .and_then(RMetric::as_tolerance)
        .ok_or_else(|| bad(&format!("unknown metric `{metric}`")))?;
    let t = parse_tolerance(m, tol).map_err(|e| bad(&e))?;
    Ok((scope.to_string(), m, t))
}

/// `+10%`, `+5ms`, `+1.5s`, `+0.1pt`, `-5%`, `-20/s`, comma-separated;
/// latency amounts are durations as the scenario format writes them.
pub fn parse_tolerance(m: RMetric, text: &str) -> Result<Tolerance, String> {
    crate::measure::metric::parse_tolerance(m, text, crate::scenario::values::parse_duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_with_names_containing_colons() {
        let (s, m, t) = parse_spec("create project:p99:+20%,+5ms").unwrap();
        assert_eq!((s.as_str(), m), ("create project", RMetric::P99));
        assert_eq!(t.pct, Some(20.0));
        assert_eq!(t.abs, Some(5.0));
        assert_eq!(t.allowance(10.0), 5.0);
        assert_eq!(t.allowance(100.0), 20.0);
        let (s, m, _) = parse_spec("a:b:p95:+10%").unwrap();
        assert_eq!((s.as_str(), m), ("a:b", RMetric::P95));
        let (s, m, t) = parse_spec("p95:+10%").unwrap();
        assert_eq!((s.as_str(), m, t.pct), (ANY, RMetric::P95, Some(10.0)));
    }

    #[test]
    fn units_and_directions_are_checked() {
        let e = parse_tolerance(RMetric::ErrorRate, "+0.5pt").unwrap();
        assert!((e.abs.unwrap() - 0.005).abs() < 1e-12);
        assert!(parse_tolerance(RMetric::ErrorRate, "+5ms").is_err());
        assert!(parse_tolerance(RMetric::P95, "-10%").is_err());
        assert_eq!(
            parse_tolerance(RMetric::Rate, "-20/s").unwrap().abs,
            Some(20.0)
        );
        assert!(parse_tolerance(RMetric::Rate, "+5%").is_err());
        assert!(parse_tolerance(RMetric::P95, "+NaN%").is_err());
        assert!(
            parse_spec("p42:+10%")
                .unwrap_err()
                .contains("unknown metric")
        );
    }

    #[test]
    fn the_most_specific_tolerance_wins() {
        let mut t = Tolerances::default();
        t.add_scenario(
            "s.yaml",
            &[(
                "*".to_string(),
                [("p95".to_string(), "+30%".to_string())].into(),
            )]
            .into(),
        )
        .unwrap();
        t.add_cli(&["health:p95:+50%".into()]).unwrap();
        assert_eq!(t.get("health", RMetric::P95).0.pct, Some(50.0));
        assert_eq!(t.get("other", RMetric::P95).0.pct, Some(30.0));
        assert_eq!(
            t.get("other", RMetric::P99),
            (default_tolerance(RMetric::P99), "default")
        );
    }
}
