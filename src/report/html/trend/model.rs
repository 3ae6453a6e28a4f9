//! The page model: plain data the history store fills in and the
//! renderer only reads, so pages can be built by hand in tests.

/// Everything the page shows, already read from the history store: the
/// renderer does no I/O so it can be tested on hand-made histories.
#[derive(Debug, Clone)]
pub struct TrendPage {
    pub title: String,
    /// RFC 3339.
    pub generated_at: String,
    /// One per fingerprint: runs are only comparable with the same target,
    /// scenarios, model and load.
    pub groups: Vec<LoadGroup>,
    pub verify: Option<VerifyTrend>,
}

#[derive(Debug, Clone)]
pub struct LoadGroup {
    /// Human description of what makes these runs comparable.
    pub fingerprint: String,
    /// Oldest first; chart x positions are indices into this.
    pub runs: Vec<TrendRun>,
    pub requests: Vec<RequestTrend>,
}

#[derive(Debug, Clone)]
pub struct TrendRun {
    pub id: i64,
    /// X-axis label: short commit, deploy id, or `#id`.
    pub label: String,
    /// RFC 3339.
    pub started_at: String,
    pub verdict: RunVerdict,
    /// What regressed against the baseline, e.g. "create project p95".
    pub regressed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunVerdict {
    Passed,
    Failed,
    Regressed,
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct RequestTrend {
    pub name: String,
    /// Index = run index in [`LoadGroup::runs`]; `None` where the request
    /// did not run, which breaks the line rather than bridging the gap.
    pub points: Vec<Option<Percentiles>>,
    /// The latest run's objectives: older thresholds may differ, but the
    /// question people ask is "how far are we from today's SLO".
    pub slo_lines: Vec<SloLine>,
    /// Run indices where this request regressed.
    pub regressed_runs: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone)]
pub struct SloLine {
    /// E.g. "p95 < 500 ms"; a leading p50/p95/p99 picks the line's colour.
    pub label: String,
    pub threshold_ms: f64,
}

#[derive(Debug, Clone)]
pub struct VerifyTrend {
    pub runs: Vec<TrendRun>,
    pub steps: Vec<StepTrend>,
}

#[derive(Debug, Clone)]
pub struct StepTrend {
    pub name: String,
    /// Index = run index in [`VerifyTrend::runs`].
    pub points: Vec<Option<StepPoint>>,
}

#[derive(Debug, Clone, Copy)]
pub struct StepPoint {
    pub latency_ms: f64,
    pub passed: bool,
}
