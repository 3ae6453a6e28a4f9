//! Events a runner emits while it works. Runners never print; reporters
//! (console, progress) turn events into output, so CI and terminal modes
//! differ only in the reporter.

use std::time::Duration;

use crate::outcome::{RunReport, StepReport};

#[derive(Debug, Clone)]
pub enum Event<'a> {
    RunStarted {
        target: &'a str,
        scenarios: usize,
    },
    ReadyAttempt {
        attempt: u32,
        passed: bool,
        streak: u32,
        needed: u32,
        summary: &'a str,
        elapsed: Duration,
    },
    ScenarioStarted {
        name: &'a str,
    },
    StepStarted {
        scenario: &'a str,
        step: &'a str,
    },
    StepFinished {
        scenario: &'a str,
        report: &'a StepReport,
    },
    SoakPass {
        pass: u64,
        failed_steps: usize,
        remaining: Duration,
    },
    RunFinished {
        report: &'a RunReport,
    },
}

/// Where events go.
pub trait Sink {
    fn event(&mut self, e: &Event<'_>);
}

/// Discards events (library callers that only want the report).
pub struct Quiet;

impl Sink for Quiet {
    fn event(&mut self, _: &Event<'_>) {}
}
