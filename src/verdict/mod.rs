//! Verdicts: the one place that decides whether a run passed and which exit
//! code says so. Runners measure, this module judges, reporters only show
//! what it decided; so the console, JUnit, summary.json and report.html can
//! never disagree, and a bad objective is caught before the attack.

pub mod regress;
pub mod slo;

use crate::exit::Exit;
use crate::measure::{Measurements, StopReason};
use crate::outcome::RunReport;

pub use slo::{Metric, Objective, Op, SloParseError, SloResult, SloSet, parse_slo, slo_set};

/// How a load run fared.
#[derive(Debug, Clone)]
pub struct LoadVerdict {
    pub slo_results: Vec<SloResult>,
    pub stopped_by: StopReason,
    /// Every objective (error budgets included) held, the run covered
    /// what was asked (an interrupted run never passes) and, when a
    /// baseline was compared, nothing regressed (unless `--regress-warn`).
    pub passed: bool,
    /// The baseline comparison, when one was made.
    pub regression: Option<regress::Regression>,
}

impl LoadVerdict {
    pub fn exit(&self) -> Exit {
        match (self.stopped_by.signal(), self.passed) {
            (Some(s), _) => Exit::Interrupted(s),
            (None, true) => Exit::Passed,
            (None, false) => Exit::Failed,
        }
    }

    pub fn breached(&self) -> impl Iterator<Item = &SloResult> {
        self.slo_results.iter().filter(|r| !r.passed)
    }

    /// Adds the baseline comparison to the verdict: a regression fails the
    /// run unless it was asked only to warn.
    pub fn with_regression(mut self, r: regress::Regression) -> LoadVerdict {
        self.passed = self.passed && !r.fails();
        self.regression = Some(r);
        self
    }

    /// The latency objectives, in ms, as the history keeps them.
    pub fn slo_lines(&self) -> Vec<crate::record::SloLine> {
        self.slo_results
            .iter()
            .filter(|r| r.unit == "ms")
            .map(|r| crate::record::SloLine {
                scope: r.scope.clone(),
                metric: r.metric.to_string(),
                threshold_ms: r.threshold,
                passed: r.passed,
            })
            .collect()
    }
}

/// Judges a load run's measurements against its objectives.
pub fn judge_load(m: &Measurements, slos: &SloSet) -> LoadVerdict {
    let slo_results = slos.evaluate(m);
    let held = slo_results.iter().all(|r| r.passed);
    LoadVerdict {
        passed: held && m.stopped_by.signal().is_none(),
        stopped_by: m.stopped_by,
        slo_results,
        regression: None,
    }
}

/// The exit code of a verify run: a signal wins over any verdict, then
/// readiness, then the steps.
pub fn judge_verify(report: &RunReport) -> Exit {
    if let Some(s) = report.stopped_by {
        Exit::Interrupted(s)
    } else if report.ready.as_ref().is_some_and(|r| !r.ready) {
        Exit::NotReady
    } else if report.passed {
        Exit::Passed
    } else {
        Exit::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::Signal;

    fn measurements(stopped_by: StopReason) -> Measurements {
        Measurements {
            started_at: chrono::Utc::now(),
            ended_at: chrono::Utc::now(),
            elapsed: std::time::Duration::from_secs(1),
            stopped_by,
            teardown_abandoned: false,
            requests: Default::default(),
            names: Vec::new(),
            intervals: Vec::new(),
            interval_log_error: None,
            server: None,
            generator: None,
            start: None,
            scrapes: None,
            shards: Vec::new(),
            schedule: None,
        }
    }

    #[test]
    fn an_interrupted_run_never_passes() {
        let none = SloSet::default();
        let done = judge_load(&measurements(StopReason::Duration), &none);
        assert!(done.passed);
        assert_eq!(done.exit(), Exit::Passed);
        for (sig, code) in [(Signal::Sigint, 130), (Signal::Sigterm, 143)] {
            let v = judge_load(&measurements(StopReason::Interrupted(sig)), &none);
            assert!(!v.passed);
            assert_eq!(v.exit().code(), code);
        }
    }
}
