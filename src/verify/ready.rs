//! `--wait-ready`: poll the readiness probe with backoff until it passes
//! N times in a row. ECS takes minutes to roll tasks and the load balancer
//! answers 502 meanwhile; those answers are expected, not failures.

use std::time::{Duration, Instant};

use crate::check::{self, Context};
use crate::event::{Event, Sink};
use crate::http::Client;
use crate::outcome::ReadyReport;
use crate::prepare::prepare;
use crate::scenario::ScenarioFile;
use crate::scenario::model::Step;
use crate::scenario::template::Scope;

use super::{VerifyOptions, ms};

/// The step marked `readiness: true`, else the first step whose path
/// mentions `health`.
pub fn find_readiness_step<'a>(
    scenarios: &[&'a ScenarioFile],
) -> Option<(&'a ScenarioFile, &'a Step)> {
    let all = || {
        scenarios
            .iter()
            .flat_map(|l| l.scenario.steps.iter().map(move |s| (*l, &s.value)))
    };
    all().find(|(_, s)| s.readiness).or_else(|| {
        all().find(|(_, s)| {
            s.request
                .as_ref()
                .is_some_and(|r| r.path.value.contains("health"))
        })
    })
}

pub async fn wait(
    scenarios: &[&ScenarioFile],
    client: &Client,
    opts: &VerifyOptions,
    deadline: Duration,
    sink: &mut dyn Sink,
) -> ReadyReport {
    let t0 = Instant::now();
    let Some((l, step)) = find_readiness_step(scenarios) else {
        return ReadyReport {
            ready: false,
            attempts: 0,
            waited_ms: 0.0,
            last: "no readiness step: mark one with `readiness: true`".into(),
        };
    };
    let sc = &l.scenario;
    let scope = Scope::new(
        sc.vars
            .iter()
            .chain(opts.vars.iter())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    let needed = opts.ready_successes.max(1);
    let mut streak = 0;
    let mut attempt = 0;
    let mut backoff = Duration::from_millis(250);
    let mut last: String;
    loop {
        attempt += 1;
        let left = deadline.saturating_sub(t0.elapsed());
        let (passed, summary) = match &step.request {
            // A command as the readiness probe: it must pass its
            // expectations, within what is left of the deadline.
            None => command_attempt(step, &scope, left).await,
            Some(request) => http_attempt(request, step, l, client, opts, &scope, left).await,
        };
        last = summary;
        streak = if passed { streak + 1 } else { 0 };
        sink.event(&Event::ReadyAttempt {
            attempt,
            passed,
            streak,
            needed,
            summary: &last,
            elapsed: t0.elapsed(),
        });
        if streak >= needed {
            return ReadyReport {
                ready: true,
                attempts: attempt,
                waited_ms: ms(t0.elapsed()),
                last,
            };
        }
        let left = deadline.saturating_sub(t0.elapsed());
        if left.is_zero() {
            return ReadyReport {
                ready: false,
                attempts: attempt,
                waited_ms: ms(t0.elapsed()),
                last,
            };
        }
        // Consecutive successes are confirmed quickly; failures back off
        // exponentially up to 5 s.
        let pause = if passed {
            Duration::from_millis(200)
        } else {
            backoff
        };
        if !passed {
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        tokio::time::sleep(pause.min(left)).await;
    }
}

/// One readiness request: whether it passed, and a line saying what came
/// back. Latency budgets are for the checks, not for readiness.
async fn http_attempt(
    request: &crate::scenario::model::Request,
    step: &Step,
    l: &ScenarioFile,
    client: &Client,
    opts: &VerifyOptions,
    scope: &Scope,
    left: Duration,
) -> (bool, String) {
    let mut p = match prepare(request, &l.scenario.defaults, &opts.request, scope) {
        Err(e) => return (false, format!("cannot build the readiness request: {e}")),
        Ok(p) => p,
    };
    // Never wait on one attempt past the deadline.
    p.timeout = p.timeout.min(left.max(Duration::from_millis(100)));
    let resp = match client.send(&p).await {
        Err(e) => return (false, e.to_string()),
        Ok(r) => r,
    };
    let ctx = Context {
        scope,
        schemas: &l.schemas,
        max_latency: None,
    };
    let failed: Vec<String> = check::evaluate(&step.expect, &resp, &ctx)
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.describe())
        .collect();
    if failed.is_empty() {
        (
            true,
            format!(
                "HTTP {} in {}",
                resp.status,
                crate::measure::fmt_duration(resp.latency)
            ),
        )
    } else {
        (
            false,
            format!("HTTP {} ({})", resp.status, failed.join("; ")),
        )
    }
}

/// One run of a command readiness probe: whether it passed, and a line
/// saying what it did.
async fn command_attempt(step: &Step, scope: &Scope, left: Duration) -> (bool, String) {
    let secrets = scope.secrets().to_vec();
    let Some(cmd) = &step.command else {
        return (
            false,
            "the readiness step has neither request nor command".into(),
        );
    };
    let mut spec = match super::command::render(step, &cmd.value, scope) {
        Ok(s) => s,
        Err(e) => {
            return (
                false,
                crate::scenario::template::redact(
                    &format!("cannot build the readiness command: {e}"),
                    &secrets,
                ),
            );
        }
    };
    spec.timeout = spec.timeout.min(left.max(Duration::from_millis(100)));
    match crate::command::run(&spec).await {
        Err(e) => (
            false,
            crate::scenario::template::redact(&e.to_string(), &secrets),
        ),
        Ok(out) => {
            let judged = check::lines::judge(&step.expect, &out, scope);
            let failed: Vec<String> = judged
                .assertions
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.describe())
                .collect();
            let exit = out
                .exit_code
                .map_or("killed".to_string(), |c| format!("exit {c}"));
            let text = if failed.is_empty() {
                format!("{exit} in {}", crate::measure::fmt_duration(out.duration))
            } else {
                format!("{exit} ({})", failed.join("; "))
            };
            (
                failed.is_empty(),
                crate::scenario::template::redact(&text, &secrets),
            )
        }
    }
}
