//! What the runners execute: scenarios compiled once before the attack.
//! Each step knows its request-name index, the variables it needs, its
//! request's templates parsed once, and (when it needs no captured value)
//! its request already rendered, so the hot path never parses a template.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::client::Ready;
use super::recorder::Name;
use crate::check;
use crate::prepare::{RequestDefaults, RequestTemplate};
use crate::scenario::ScenarioFile;
use crate::scenario::model::{Request, Step};
use crate::scenario::template::Scope;

pub struct StepPlan {
    /// Index into the run's request names.
    pub name: usize,
    pub step: Step,
    /// Variables the request reads (`${var}`, not `${env.X}`).
    pub vars: Vec<String>,
    /// The request's templates, parsed once; `Err` says why the request
    /// cannot be built (each attempt is then recorded as that failure).
    pub template: Result<RequestTemplate, String>,
    /// The request rendered once, when it reads no captured value.
    pub cached: Option<Ready>,
    /// Whether the step needs a JSON/metrics parse for captures.
    pub has_captures: bool,
    /// The step's expectations in judging order, each with the reason key
    /// its failures count under: built once here, not per response.
    pub checks: Vec<check::Entry>,
    pub reason_keys: Vec<String>,
    /// One plain-path body check is all that reads the body as JSON
    /// ([`check::Observed::read_once`]).
    pub json_once: bool,
}

pub struct ScenarioPlan {
    pub name: String,
    pub weight: u32,
    pub loaded: ScenarioFile,
    /// Scenario `vars` overlaid with `--var`s, plus secrets from `${env.X}`.
    pub base: Scope,
    pub steps: Vec<StepPlan>,
    pub teardown: Vec<StepPlan>,
}

pub struct Plan {
    pub scenarios: Vec<ScenarioPlan>,
    pub names: Vec<Name>,
    pub request: RequestDefaults,
}

/// Compiles the selected scenarios. Request names are step names; steps of
/// different scenarios with the same name share one request name.
pub fn compile(
    scenarios: &[&ScenarioFile],
    vars: &BTreeMap<String, String>,
    request: &RequestDefaults,
) -> Plan {
    let mut names: Vec<Name> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut plans = Vec::new();
    for l in scenarios {
        let sc = &l.scenario;
        let mut base_vars: BTreeMap<String, Value> = sc
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        base_vars.extend(
            vars.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
        );
        let mut base = Scope::new(base_vars);
        for name in &l.env_refs {
            if let Ok(v) = std::env::var(name) {
                base.add_secret(v);
            }
        }
        let captured: BTreeSet<&str> = sc
            .steps
            .iter()
            .chain(&sc.teardown)
            .flat_map(|s| s.value.capture.keys().map(String::as_str))
            .collect();
        // Command steps never reach here: `load` refuses scenarios with
        // them before anything is sent (see `cli::load`).
        let mut compile_step = |step: &Step, r: &Request| -> StepPlan {
            let idx = *index.entry(step.name.clone()).or_insert_with(|| {
                names.push(Name {
                    name: step.name.clone(),
                    method: r.method.clone(),
                    path: r.path.value.clone(),
                });
                names.len() - 1
            });
            let template = RequestTemplate::compile(r, &sc.defaults, request);
            let vars = template.as_ref().map(|t| t.vars()).unwrap_or_default();
            let constant = vars
                .iter()
                .all(|v| !captured.contains(v.as_str()) && base.get(v).is_some());
            let cached = match &template {
                Ok(t) if constant => t.render(&base).ok().map(Ready::new),
                _ => None,
            };
            // No per-request latency verdict under load: the step's budget
            // is its p99 objective (crate::verdict::slo::SloSet::add_budgets).
            let checks = check::entries(&step.expect, false);
            let reason_keys = checks
                .iter()
                .map(|e| check::reason_key(&step.expect, *e))
                .collect();
            StepPlan {
                name: idx,
                vars,
                template,
                cached,
                has_captures: !step.capture.is_empty(),
                json_once: check::reads_json_once(&checks, &step.expect, !step.capture.is_empty()),
                checks,
                reason_keys,
                step: step.clone(),
            }
        };
        let steps = sc
            .steps
            .iter()
            .filter_map(|s| Some(compile_step(&s.value, s.value.request.as_ref()?)))
            .collect();
        let teardown = sc
            .teardown
            .iter()
            .filter_map(|s| Some(compile_step(&s.value, s.value.request.as_ref()?)))
            .collect();
        plans.push(ScenarioPlan {
            name: sc.name.clone(),
            weight: sc.weight.value.max(1),
            loaded: (*l).clone(),
            base,
            steps,
            teardown,
        });
    }
    Plan {
        scenarios: plans,
        names,
        request: request.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_steps_without_captured_values_are_rendered_once() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/load/crud.yaml");
        let l = crate::scenario::read_file(&path, &Default::default()).expect("fixture");
        let req = RequestDefaults {
            target: url::Url::parse("http://127.0.0.1:1/").unwrap(),
            headers: Vec::new(),
            timeout: None,
        };
        let plan = compile(&[&l], &BTreeMap::new(), &req);
        let sc = &plan.scenarios[0];
        assert!(sc.steps[0].cached.is_some(), "create reads no capture");
        assert!(sc.steps[1].cached.is_none(), "get reads ${{id}}");
        assert_eq!(sc.steps[1].vars, vec!["id".to_string()]);
        assert_eq!(sc.teardown[0].vars, vec!["id".to_string()]);
        assert_eq!(plan.names.len(), 3);
    }
}
