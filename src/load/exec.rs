//! One iteration of a scenario under load: its steps in order (captures
//! flowing from step to step), then its teardown. Shared by the closed
//! model (goose users) and the open model (scheduled tasks). Every response
//! is judged by the same engine as `verify` (`check::evaluate`), and every
//! request is recorded once: latency if a response came, and the reason key
//! of its first failure if it failed.
//!
//! Differences from `verify`, on purpose: a step's `repeat` is not repeated
//! and its `distinct` assertions are not judged (under load every iteration
//! already repeats it, and distinct counts need the whole set of answers);
//! think times apply in the closed model only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;

use super::client::{Lane, LoadClient, Ready};
use super::open::Pacer;
use super::plan::{Plan, ScenarioPlan, StepPlan};
use super::recorder::{Failure, Recorders};
use super::stop::Stop;
use crate::check::{self, Context, Observed};
use crate::http::TransportError;
use crate::measure::StopReason;
use crate::scenario::template::{Scope, redact};

/// Everything the workers share for one run.
pub struct Shared {
    pub plan: Plan,
    pub client: LoadClient,
    pub recorders: Arc<Recorders>,
    pub stop: Stop,
    pub max_requests: Option<u64>,
    issued: AtomicU64,
    /// Closed model: users started; open model: iterations in flight.
    pub users: AtomicU32,
}

impl Shared {
    pub fn new(
        plan: Plan,
        client: LoadClient,
        recorders: Arc<Recorders>,
        max_requests: Option<u64>,
    ) -> Self {
        Shared {
            plan,
            client,
            recorders,
            stop: Stop::default(),
            max_requests,
            issued: AtomicU64::new(0),
            users: AtomicU32::new(0),
        }
    }

    /// Admits one more scenario request under `--max-requests`; the last
    /// admitted one stops the run (it is still sent and recorded).
    fn admit(&self) -> bool {
        let Some(max) = self.max_requests else {
            return true;
        };
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        if n + 1 >= max {
            self.stop.trigger(StopReason::MaxRequests);
        }
        n < max
    }
}

/// When the steps of an iteration are meant to be sent.
#[derive(Clone, Copy)]
pub enum Timing<'a> {
    /// As soon as the previous step (and its think time) is done; latency
    /// from the actual send.
    Closed,
    /// On the open model's schedule: the first step at `first`, each later
    /// one at the next slot `pacer` hands it; every request is measured from
    /// its slot's time even when sent late.
    Open { first: Instant, pacer: &'a Pacer },
}

struct Outcome {
    passed: bool,
    captured: Vec<(String, Value)>,
}

/// Runs one iteration of scenario `sc`. Teardown steps run whenever the
/// variables they need were captured, even after a stop, so a run never
/// leaves behind what it created.
/// Every request of the iteration goes out on `lane`, the user's own
/// connection.
pub async fn iteration(sh: &Shared, sc: usize, timing: Timing<'_>, lane: &mut Lane) {
    let plan = &sh.plan.scenarios[sc];
    let pacer = match timing {
        Timing::Open { pacer, .. } => Some(pacer),
        Timing::Closed => None,
    };
    // Cloned only when the iteration captures something.
    let mut local: Option<Scope> = None;
    let mut first = true;
    for s in &plan.steps {
        if sh.stop.is_set() {
            break;
        }
        let due = match timing {
            Timing::Closed => None,
            Timing::Open { first: at, .. } if first => Some(at),
            // No slot: the schedule is over.
            Timing::Open { pacer, .. } => match pacer.next_slot().await {
                Some(at) => Some(at),
                None => break,
            },
        };
        first = false;
        if !sh.admit() {
            break;
        }
        let out = step(
            sh,
            plan,
            s,
            local.as_ref().unwrap_or(&plan.base),
            due,
            pacer,
            lane,
        )
        .await;
        if !out.captured.is_empty() {
            let scope = local.get_or_insert_with(|| plan.base.clone());
            for (k, v) in out.captured {
                scope.set(&k, v);
            }
        }
        if !out.passed {
            // Later steps usually depend on this one; as in verify, skip
            // them (in the open model their slots go to other iterations).
            break;
        }
        if let (Timing::Closed, Some(think)) = (timing, s.step.think) {
            if !sh.stop.sleep(think.0).await {
                break;
            }
        }
    }
    for s in &plan.teardown {
        let scope = local.as_ref().unwrap_or(&plan.base);
        if s.vars.iter().any(|v| scope.get(v).is_none()) {
            continue;
        }
        // After the schedule is over, teardown goes out at once.
        let due = match pacer {
            Some(p) => p.next_slot().await,
            None => None,
        };
        let out = step(sh, plan, s, scope, due, pacer, lane).await;
        if !out.captured.is_empty() {
            let scope = local.get_or_insert_with(|| plan.base.clone());
            for (k, v) in out.captured {
                scope.set(&k, v);
            }
        }
    }
}

/// A request that got no answer (it could not be built or sent) counts as
/// one failure of its name; the example kept for the report is redacted,
/// and only formatted if the recorder keeps it.
fn unanswered(sh: &Shared, name: usize, e: &TransportError, scope: &Scope) {
    let example = || redact(&e.to_string(), scope.secrets());
    let f = Failure {
        key: e.reason_key(),
        example: &example,
    };
    sh.recorders.record(name, None, Some(f));
}

async fn step(
    sh: &Shared,
    plan: &ScenarioPlan,
    s: &StepPlan,
    scope: &Scope,
    due: Option<Instant>,
    pacer: Option<&Pacer>,
    lane: &mut Lane,
) -> Outcome {
    let failed = Outcome {
        passed: false,
        captured: Vec::new(),
    };
    let owned;
    let ready = match &s.cached {
        Some(r) => r,
        None => match s
            .template
            .as_ref()
            .map_err(String::clone)
            .and_then(|t| t.render(scope))
        {
            Ok(p) => {
                owned = Ready::new(p);
                &owned
            }
            Err(e) => {
                unanswered(sh, s.name, &TransportError::Invalid(e), scope);
                return failed;
            }
        },
    };
    let from = due.unwrap_or_else(Instant::now);
    if let (Some(p), Some(due)) = (pacer, due) {
        p.sent(due);
    }
    let resp = match sh.client.send(ready, from, lane).await {
        Ok(r) => r,
        Err(e) => {
            unanswered(sh, s.name, &e, scope);
            return failed;
        }
    };
    // No per-request latency verdict under load: the step's budget is its
    // p99 objective (crate::verdict::slo::SloSet::add_budgets).
    let ctx = Context {
        scope,
        schemas: &plan.loaded.schemas,
        max_latency: None,
    };
    // One parse of the body, shared by the checks and the captures, and
    // strings only for a failure.
    let obs = if s.json_once {
        Observed::new(&resp).read_once()
    } else {
        Observed::new(&resp)
    };
    let mut why = check::first_failure(&s.checks, &s.step.expect, &obs, &ctx).map(Why::Check);
    let mut captured = Vec::new();
    if s.has_captures && why.is_none() {
        let (values, failures) = check::capture_from(&s.step.capture, &obs);
        why = failures.into_iter().next().map(Why::Capture);
        captured = values;
    }
    let latency_us = u64::try_from(resp.latency.as_micros()).unwrap_or(u64::MAX);
    let example = || match &why {
        Some(Why::Check(i)) => check::entry_results(&s.step.expect, s.checks[*i], &obs, &ctx)
            .into_iter()
            .find(|r| !r.passed)
            .map(|r| redact(&r.describe(), scope.secrets()))
            .unwrap_or_default(),
        Some(Why::Capture(r)) => redact(&r.describe(), scope.secrets()),
        None => String::new(),
    };
    let failure = why.as_ref().map(|w| Failure {
        key: match w {
            Why::Check(i) => &s.reason_keys[*i],
            Why::Capture(r) => &r.reason_key,
        },
        example: &example,
    });
    sh.recorders.record(s.name, Some(latency_us), failure);
    Outcome {
        passed: why.is_none(),
        captured,
    }
}

/// Why a response failed: the index of its first failing check (its
/// result is rebuilt only to describe it), or a capture that found nothing.
enum Why {
    Check(usize),
    Capture(check::AssertionResult),
}
