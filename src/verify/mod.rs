//! The verification gate: run each scenario's steps once, in order, then its
//! teardown; optionally wait for the target to become ready first, or repeat
//! everything for a soak. Emits events; returns the report.
//!
//! A signal (SIGINT, SIGTERM: see [`crate::signals`]) stops new steps; the
//! request in flight finishes, the teardown of every begun scenario runs
//! within `teardown_timeout` (a second signal abandons it) and the report
//! is still returned, marked with the signal.

mod command;
mod ready;
mod step;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::event::{Event, Sink};
use crate::http::Client;
use crate::outcome::{
    FORMAT, Phase, ReadyReport, RunReport, ScenarioReport, SoakCount, StepReport, Verdict,
};
use crate::prepare::RequestDefaults;
use crate::scenario::ScenarioFile;
use crate::scenario::template::Scope;
use crate::signals;

pub use ready::find_readiness_step;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub request: RequestDefaults,
    pub vars: BTreeMap<String, String>,
    /// Scenarios and steps carrying one of these tags are skipped.
    pub skip_tags: Vec<String>,
    /// Stop after the first failed step (teardown still runs).
    pub fail_fast: bool,
    pub wait_ready: Option<Duration>,
    pub ready_successes: u32,
    pub soak: Option<Duration>,
    /// After a signal: how long the request in flight and the teardown of
    /// begun scenarios may take before they are abandoned.
    pub teardown_timeout: Duration,
    /// The target is the embedded backend (reports say so).
    pub target_local: bool,
    /// Carried into the report as collected by the CLI.
    pub provenance: crate::provenance::Provenance,
}

/// Keeps the scenarios the tag filters select. An `opt_in` scenario runs
/// only when `--tag` names one of its tags, or (without `--tag`) when a
/// `--var` sets one of its variables; a `local_only` one only against the
/// embedded backend (`local`).
pub fn select<'a>(
    all: &'a [ScenarioFile],
    tags: &[String],
    skip: &[String],
    cli_vars: &BTreeMap<String, String>,
    local: bool,
) -> Vec<&'a ScenarioFile> {
    all.iter()
        .filter(|l| {
            let sc = &l.scenario;
            let named = sc.tags.iter().any(|t| tags.contains(t));
            let opted = !sc.opt_in || sc.vars.keys().any(|k| cli_vars.contains_key(k));
            named || (tags.is_empty() && opted)
        })
        .filter(|l| local || !l.scenario.local_only)
        .filter(|l| !l.scenario.tags.iter().any(|t| skip.contains(t)))
        .collect()
}

/// Runs the gate. Never fails: every problem is a verdict in the report.
pub async fn run(
    scenarios: &[&ScenarioFile],
    client: &Client,
    opts: &VerifyOptions,
    sink: &mut dyn Sink,
) -> RunReport {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let t0 = Instant::now();
    let target = opts.request.target.to_string();
    sink.event(&Event::RunStarted {
        target: &target,
        local: opts.target_local,
        scenarios: scenarios.len(),
    });
    let mut report = RunReport {
        format: FORMAT,
        tool_version: env!("CARGO_PKG_VERSION"),
        target: target.clone(),
        target_local: opts.target_local,
        started_at,
        duration_ms: 0.0,
        ready: None,
        soak_passes: None,
        scenarios: Vec::new(),
        stopped_by: None,
        teardown_abandoned: false,
        passed: false,
        provenance: opts.provenance.clone(),
    };
    if let Some(deadline) = opts.wait_ready {
        let r: ReadyReport = tokio::select! {
            r = ready::wait(scenarios, client, opts, deadline, sink) => r,
            sig = signals::stop_requested() => ReadyReport {
                ready: false,
                attempts: 0,
                waited_ms: ms(t0.elapsed()),
                last: format!("{} {sig} while waiting for readiness", crate::outcome::INTERRUPTED),
            },
        };
        let ok = r.ready;
        report.ready = Some(r);
        if !ok {
            report.stopped_by = signals::first();
            report.duration_ms = ms(t0.elapsed());
            sink.event(&Event::RunFinished { report: &report });
            return report;
        }
    }
    match opts.soak {
        None => {
            for l in scenarios {
                let sr = run_scenario(l, client, opts, sink).await;
                let failed = !sr.scenario.passed();
                report.teardown_abandoned |= sr.teardown_abandoned;
                report.scenarios.push(sr.scenario);
                if failed && opts.fail_fast {
                    break;
                }
            }
        }
        Some(d) => soak(scenarios, client, opts, d, sink, &mut report).await,
    }
    report.stopped_by = signals::first();
    report.passed =
        report.stopped_by.is_none() && report.scenarios.iter().all(ScenarioReport::passed);
    report.duration_ms = ms(t0.elapsed());
    sink.event(&Event::RunFinished { report: &report });
    report
}

/// Repeats the scenarios until `duration` has passed; each step's report is
/// its last failure (or last pass) with run and failure counts.
async fn soak(
    scenarios: &[&ScenarioFile],
    client: &Client,
    opts: &VerifyOptions,
    duration: Duration,
    sink: &mut dyn Sink,
    report: &mut RunReport,
) {
    let end = Instant::now() + duration;
    let mut merged: Vec<ScenarioReport> = Vec::new();
    let mut pass = 0u64;
    loop {
        pass += 1;
        let mut failed_steps = 0;
        for (i, l) in scenarios.iter().enumerate() {
            let sr = run_scenario(l, client, opts, sink).await;
            report.teardown_abandoned |= sr.teardown_abandoned;
            let sr = sr.scenario;
            failed_steps += sr
                .steps
                .iter()
                .filter(|s| matches!(s.verdict, Verdict::Failed | Verdict::Error))
                .count();
            if i >= merged.len() {
                merged.push(ScenarioReport {
                    steps: sr
                        .steps
                        .iter()
                        .map(|s| with_count(s.clone(), SoakCount::default()))
                        .collect(),
                    ..sr.clone()
                });
            }
            let m = &mut merged[i];
            m.duration_ms += if pass == 1 { 0.0 } else { sr.duration_ms };
            for s in sr.steps {
                let slot = match m
                    .steps
                    .iter_mut()
                    .position(|x| x.name == s.name && x.phase == s.phase)
                {
                    Some(p) => p,
                    None => {
                        m.steps.push(with_count(s.clone(), SoakCount::default()));
                        m.steps.len() - 1
                    }
                };
                let prev = m.steps[slot].soak.unwrap_or_default();
                let bad = matches!(s.verdict, Verdict::Failed | Verdict::Error);
                let counted = SoakCount {
                    runs: prev.runs + u64::from(s.verdict != Verdict::Skipped),
                    failures: prev.failures + u64::from(bad),
                };
                // Keep the most telling report: the latest failure if any.
                let keep_new = bad || prev.failures == 0;
                if keep_new {
                    m.steps[slot] = with_count(s, counted);
                } else {
                    m.steps[slot].soak = Some(counted);
                }
            }
        }
        let now = Instant::now();
        sink.event(&Event::SoakPass {
            pass,
            failed_steps,
            remaining: end.saturating_duration_since(now),
        });
        if now >= end || (opts.fail_fast && failed_steps > 0) || signals::first().is_some() {
            break;
        }
        // A short pause keeps a soak from becoming a load test.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500).min(end.saturating_duration_since(now))) => {}
            _ = signals::stop_requested() => {}
        }
    }
    for m in &mut merged {
        for s in &mut m.steps {
            if let Some(c) = s.soak {
                if c.failures > 0 {
                    s.verdict = if s.verdict == Verdict::Passed {
                        Verdict::Failed
                    } else {
                        s.verdict
                    };
                    let note = format!("failed {} of {} soak passes", c.failures, c.runs);
                    s.message = Some(match &s.message {
                        Some(m) => format!("{note}; last: {m}"),
                        None => note,
                    });
                }
            }
        }
    }
    report.soak_passes = Some(pass);
    report.scenarios = merged;
}

fn with_count(mut s: StepReport, c: SoakCount) -> StepReport {
    s.soak = Some(c);
    s
}

/// A scenario's report, and whether its teardown was cut short.
struct ScenarioRun {
    scenario: ScenarioReport,
    teardown_abandoned: bool,
}

async fn run_scenario(
    l: &ScenarioFile,
    client: &Client,
    opts: &VerifyOptions,
    sink: &mut dyn Sink,
) -> ScenarioRun {
    let sc = &l.scenario;
    // A scenario a signal kept from starting has nothing to tear down.
    let begun = signals::first().is_none();
    let mut abandoned = false;
    let t0 = Instant::now();
    sink.event(&Event::ScenarioStarted { name: &sc.name });
    let mut vars: BTreeMap<String, Value> = sc
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    vars.extend(
        opts.vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
    );
    let mut scope = Scope::new(vars);
    for name in &l.env_refs {
        if let Ok(v) = std::env::var(name) {
            scope.add_secret(v);
        }
    }
    let mut steps = Vec::new();
    let mut failed = false;
    for s in &sc.steps {
        let step = &s.value;
        let skipped_by_tag = step.tags.iter().find(|t| opts.skip_tags.contains(t));
        let report = if let Some(sig) = signals::first() {
            step::skipped(
                step,
                Phase::Step,
                format!("not run: {} {sig}", crate::outcome::INTERRUPTED),
            )
        } else if let Some(t) = skipped_by_tag {
            step::skipped(step, Phase::Step, format!("skipped by --skip-tag {t}"))
        } else if failed {
            step::skipped(
                step,
                Phase::Step,
                "not run: an earlier step failed".to_string(),
            )
        } else {
            sink.event(&Event::StepStarted {
                scenario: &sc.name,
                step: &step.name,
            });
            // The request in flight at a signal finishes, unless the
            // teardown deadline or a second signal comes first.
            let run = step::execute(step, Phase::Step, sc, l, client, opts, &mut scope);
            tokio::select! {
                r = run => r,
                _ = signals::abandon(opts.teardown_timeout) => {
                    abandoned = true;
                    step::abandoned(step, Phase::Step)
                }
            }
        };
        if matches!(report.verdict, Verdict::Failed | Verdict::Error) {
            failed = true;
        }
        sink.event(&Event::StepFinished {
            scenario: &sc.name,
            report: &report,
        });
        steps.push(report);
    }
    // Teardown always runs; a step needing a variable that was never
    // captured is skipped, so we only ever delete what this run created.
    for s in &sc.teardown {
        let step = &s.value;
        let report = match step::missing_var(step, &scope) {
            _ if !begun => step::skipped(
                step,
                Phase::Teardown,
                format!(
                    "not run: {} {} before the scenario began",
                    crate::outcome::INTERRUPTED,
                    signals::first().map(|s| s.upper()).unwrap_or("a signal")
                ),
            ),
            _ if abandoned => step::abandoned(step, Phase::Teardown),
            Some(v) => step::skipped(
                step,
                Phase::Teardown,
                format!("not run: `{v}` was never captured"),
            ),
            None => {
                sink.event(&Event::StepStarted {
                    scenario: &sc.name,
                    step: &step.name,
                });
                let run = step::execute(step, Phase::Teardown, sc, l, client, opts, &mut scope);
                tokio::select! {
                    r = run => r,
                    _ = signals::abandon(opts.teardown_timeout) => {
                        abandoned = true;
                        step::abandoned(step, Phase::Teardown)
                    }
                }
            }
        };
        sink.event(&Event::StepFinished {
            scenario: &sc.name,
            report: &report,
        });
        steps.push(report);
    }
    ScenarioRun {
        scenario: ScenarioReport {
            name: sc.name.clone(),
            file: l.path.display().to_string(),
            sha256: l.sha256.clone(),
            steps,
            duration_ms: ms(t0.elapsed()),
        },
        teardown_abandoned: abandoned,
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
