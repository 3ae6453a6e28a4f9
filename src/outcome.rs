//! What a verify run found: plain data, built by the runner and read by
//! every reporter (console, JUnit, JSON). `FORMAT` versions the JSON form.

use serde::Serialize;

use crate::check::AssertionResult;

/// Version tag of the `--json` report; bump on any breaking change.
pub const FORMAT: &str = "postdeploy.verify/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Step,
    Teardown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    /// An expectation did not hold.
    Failed,
    /// No response could be judged (connection, TLS, timeout, body cap...).
    Error,
    /// Not run: an earlier failure, a missing capture, or a tag filter.
    Skipped,
}

impl Verdict {
    /// The name the JSON report and the history keep (serde's spelling).
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
            Verdict::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: String,
    pub phase: Phase,
    pub verdict: Verdict,
    pub method: String,
    /// The URL with secrets redacted.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Latency of the last answer (ms); for repeated steps see `latencies_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_ms: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latencies_ms: Vec<f64>,
    pub assertions: Vec<AssertionResult>,
    /// Transport error or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Redacted request and response excerpts for people reading a failure.
    pub request_excerpt: String,
    pub response_excerpt: String,
    /// In a soak: how many passes ran this step and how many failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<SoakCount>,
    /// What a command step ran and printed; absent for request steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandReport>,
}

/// A command step's run, redacted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CommandReport {
    /// The command line as run, secrets masked.
    pub line: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub stdout_lines: usize,
    pub stderr_lines: usize,
    /// Output past the `max_output` cap, read and dropped.
    pub stdout_dropped_bytes: u64,
    pub stderr_dropped_bytes: u64,
    /// Per `lines` assertion: how many lines matched and the first few.
    pub matches: Vec<crate::check::lines::LineMatches>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SoakCount {
    pub runs: u64,
    pub failures: u64,
}

impl StepReport {
    /// The assertions that did not hold.
    pub fn failures(&self) -> impl Iterator<Item = &AssertionResult> {
        self.assertions.iter().filter(|a| !a.passed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub steps: Vec<StepReport>,
    pub duration_ms: f64,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.steps
            .iter()
            .all(|s| matches!(s.verdict, Verdict::Passed | Verdict::Skipped))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadyReport {
    pub ready: bool,
    pub attempts: u32,
    pub waited_ms: f64,
    pub last: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub format: &'static str,
    pub tool_version: &'static str,
    pub target: String,
    /// The embedded backend (`--target local`), not a deployment.
    pub target_local: bool,
    pub started_at: String,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<ReadyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak_passes: Option<u64>,
    pub scenarios: Vec<ScenarioReport>,
    /// The signal that cut the run short (`"sigint"`, `"sigterm"`), or null
    /// for a run that went to its end. An interrupted run never passes.
    pub stopped_by: Option<crate::signals::Signal>,
    /// A second signal (or the teardown timeout) cut a teardown short: what
    /// the run created may remain on the target.
    pub teardown_abandoned: bool,
    pub passed: bool,
    /// Commit, branch, pipeline run, deploy, Terraform workspace, labels.
    pub provenance: crate::provenance::Provenance,
}

impl RunReport {
    /// The steps a signal kept from running, as `scenario: step`.
    pub fn skipped_by_signal(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .flat_map(|sc| {
                sc.steps
                    .iter()
                    .filter(|s| {
                        s.verdict == Verdict::Skipped
                            && s.message
                                .as_deref()
                                .is_some_and(|m| m.contains(INTERRUPTED))
                    })
                    .map(move |s| format!("{}: {}", sc.name, s.name))
            })
            .collect()
    }
}

/// Marks the skip reason of steps a signal kept from running.
pub const INTERRUPTED: &str = "run interrupted by";

#[cfg(test)]
mod tests {
    use super::Verdict;

    /// The history's spelling and the JSON report's must stay one.
    #[test]
    fn verdict_keys_are_the_json_spelling() {
        for v in [
            Verdict::Passed,
            Verdict::Failed,
            Verdict::Error,
            Verdict::Skipped,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.key());
        }
    }
}
