//! Scenario-level numbers and durations: weight, defaults, SLOs and
//! regression tolerances.

use super::Validator;
use super::field_at;
use crate::scenario::model::Scenario;

impl Validator<'_> {
    /// Numbers and durations outside what makes sense, at scenario level.
    pub(super) fn ranges(&mut self, sc: &Scenario) {
        let weight = &sc.weight;
        if weight.value == 0 || weight.value > MAX_WEIGHT {
            self.err(
                weight.referenced,
                format!("`weight: {}` is outside 1..={MAX_WEIGHT}", weight.value),
            );
        }
        let defaults = self.top_level("defaults");
        for (field, d) in [
            ("timeout", sc.defaults.timeout),
            ("max_latency", sc.defaults.max_latency),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) && defaults.0 > 0 {
                self.err_near_pos(
                    defaults,
                    &field_at(field),
                    format!("`{field}` must be more than 0"),
                );
            }
        }
        let slo_at = self.top_level("slo");
        for (name, slo) in &sc.slo {
            let name_at = self.key_at(slo_at, name);
            for (field, d) in [
                ("p50", slo.p50),
                ("p90", slo.p90),
                ("p95", slo.p95),
                ("p99", slo.p99),
                ("max", slo.max),
            ] {
                if d.is_some_and(|d| d.0.is_zero()) {
                    self.err_near_pos(
                        name_at,
                        &field_at(field),
                        format!(
                            "slo `{name}`: `{field}` must be more than 0 (no request takes no time)"
                        ),
                    );
                }
            }
            if let Some(r) = slo.min_rps.filter(|r| !r.is_finite() || *r < 0.0) {
                self.err_near_pos(
                    name_at,
                    &field_at("min_rps"),
                    format!("slo `{name}`: `min_rps: {r}` must be a finite number, 0 or more"),
                );
            }
        }
        // Regression tolerances: checked here so a typo is a positioned
        // error before anything is sent, not a fallback to the defaults.
        use crate::measure::metric::{Metric, parse_tolerance};
        let regress_at = self.top_level("regress");
        for (name, metrics) in &sc.regress {
            let name_at = self.key_at(regress_at, name);
            for (metric, tol) in metrics {
                let problem = match Metric::parse(metric).and_then(Metric::as_tolerance) {
                    None => Some(format!(
                        "regress `{name}`: unknown metric `{metric}` (expected p50, p95, p99, error_rate or rate)"
                    )),
                    Some(m) => parse_tolerance(m, tol, crate::scenario::values::parse_duration)
                        .err()
                        .map(|e| format!("regress `{name}`: `{metric}`: {e}")),
                };
                if let Some(msg) = problem {
                    self.err_near_pos(name_at, &field_at(metric), msg);
                }
            }
        }
    }

    /// Where `key` (quoted or not) of the map that starts at `map` is
    /// written; `map` itself when it is not found. SLOs and tolerances are
    /// plain maps, so the model keeps no position of their keys.
    fn key_at(&self, map: (u64, u64), key: &str) -> (u64, u64) {
        regex::Regex::new(&format!(r#"(?P<at>["']?{}["']?)\s*:"#, regex::escape(key)))
            .ok()
            .and_then(|re| self.src.find_from(map.0, map.1, &re))
            .unwrap_or(map)
    }
}

/// Highest load-test weight: weights expand into a schedule of that many
/// slots per round.
const MAX_WEIGHT: u32 = 1_000;
