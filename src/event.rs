//! Events a runner emits while it works. Runners never print; reporters
//! (console, progress) turn events into output, so CI and terminal modes
//! differ only in the reporter.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::measure::RequestStats;
use crate::outcome::{RunReport, StepReport};

#[derive(Debug, Clone)]
pub enum Event<'a> {
    RunStarted {
        target: &'a str,
        /// The embedded backend, not a deployment.
        local: bool,
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
    /// `postdeploy load` began sending.
    LoadStarted {
        target: &'a str,
        /// The embedded backend, not a deployment.
        local: bool,
        open: bool,
        users: u32,
        rate: Option<f64>,
        duration: Duration,
    },
    /// Once a second during a load run.
    LoadProgress(LoadProgress),
    /// Something the reader of a load run must know (e.g. no server metrics).
    LoadWarning {
        message: &'a str,
    },
    /// A signal arrived: no new work starts; what is in flight drains and
    /// begun teardowns run, for at most `teardown_timeout`.
    Stopping {
        signal: crate::signals::Signal,
        teardown_timeout: Duration,
    },
    /// The load run has ended with failed requests: why, per request name
    /// (only names with failures).
    LoadFailures {
        requests: &'a BTreeMap<String, RequestStats>,
    },
    /// A load run (or a merge) is judged and its reports are written: its
    /// closing summary, one line each. Rendered by the caller (which
    /// holds the verdict), so that runners' events need no verdict type.
    LoadJudged {
        lines: &'a [String],
    },
}

/// A load run's state, once a second.
#[derive(Debug, Clone, Copy)]
pub struct LoadProgress {
    pub elapsed: Duration,
    pub remaining: Duration,
    /// Closed model: users started; open model: iterations in flight.
    pub users: u32,
    /// Requests completed per second over the last interval.
    pub rps: f64,
    /// Requests so far.
    pub requests: u64,
    /// Failed requests so far.
    pub errors: u64,
    /// p95 latency so far.
    pub p95: Duration,
    /// The last report of the run (the attack has ended).
    pub finished: bool,
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
