//! The run's objectives, merged from the scenarios, the steps' latency
//! budgets and `--slo`, with the stricter bound kept on conflicts.

use std::collections::BTreeMap;

use super::{Metric, Objective, Op, RecordedObjective, SloParseError, WHOLE_RUN, parse_slo};
use crate::scenario::model::Slo;

/// Origin of the p99 objectives derived from steps' `max_latency`.
const BUDGET_ORIGIN: &str = "the step's max_latency";

/// The objectives of a run, by scope (request name or `"*"`) and metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloSet {
    pub(super) objectives: BTreeMap<(String, Metric), Objective>,
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
}
