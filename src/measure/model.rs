//! What a load run measured: plain data handed from the runner (which owns
//! goose and the recorders) to the reporters (summary.json, hlog, hgrm,
//! JUnit, HTML) and the SLO evaluation. No goose type appears here.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::signals::Signal;

/// Latencies are recorded in microseconds with 3 significant digits, from
/// send (or, in the open model, the intended send time) to the last byte.
pub const SIGFIG: u8 = 3;
/// Highest trackable latency: one hour, in microseconds.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A fresh histogram with the run's settings.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGFIG).expect("valid histogram bounds")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// N users, each looping through its scenario (goose).
    Closed,
    /// Requests issued on a fixed schedule of intended send times (`--rate`).
    Open,
}

impl Model {
    /// The `model` value of the JSON reports and the history.
    pub fn key(self) -> &'static str {
        match self {
            Model::Closed => "closed",
            Model::Open => "open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Duration,
    MaxRequests,
    /// SIGINT or SIGTERM: the run covered only part of its duration, so it
    /// can never pass.
    Interrupted(Signal),
}

impl StopReason {
    /// Whether the run covered what it was asked to (its duration or its
    /// request cap), so that it may be compared with runs that did, and
    /// may become a baseline.
    pub fn covered_plan(self) -> bool {
        matches!(self, StopReason::Duration | StopReason::MaxRequests)
    }

    /// The reason back from its [`key`](Self::key), as the run directory
    /// and the history keep it; None for a key no postdeploy wrote.
    pub fn from_key(key: &str) -> Option<StopReason> {
        StopReason::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Every reason a run can stop for, so a key is read back through
    /// [`key`](Self::key) itself rather than a second spelling of it.
    pub const ALL: [StopReason; 4] = [
        StopReason::Duration,
        StopReason::MaxRequests,
        StopReason::Interrupted(Signal::Sigint),
        StopReason::Interrupted(Signal::Sigterm),
    ];

    /// The `stopped_by` value of the JSON reports.
    pub fn key(self) -> &'static str {
        match self {
            StopReason::Duration => "duration",
            StopReason::MaxRequests => "max_requests",
            StopReason::Interrupted(s) => s.name(),
        }
    }

    /// For people: "duration reached", "interrupted by SIGTERM".
    pub fn describe(self) -> String {
        match self {
            StopReason::Duration => "duration reached".into(),
            StopReason::MaxRequests => "max requests reached".into(),
            StopReason::Interrupted(s) => format!("interrupted by {s}"),
        }
    }

    pub fn signal(self) -> Option<Signal> {
        match self {
            StopReason::Interrupted(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub weight: u32,
}

/// How the run was configured (what the user asked for).
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: String,
    /// The embedded backend (`--target local`), not a deployment.
    pub target_local: bool,
    pub model: Model,
    pub users: u32,
    pub ramp: Duration,
    pub duration: Duration,
    /// Open model: requests per second.
    pub rate: Option<f64>,
    pub max_requests: Option<u64>,
    pub scenarios: Vec<ScenarioInfo>,
    /// The scenarios' `regress:` tolerances, merged (request name or `*`
    /// → metric → tolerance); recorded so `compare` judges a stored run
    /// by the tolerances its own scenarios declared.
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
}

/// Everything measured for one request name (a step name).
#[derive(Debug, Clone)]
pub struct RequestStats {
    /// Method and path template of the step, for people reading reports.
    pub method: String,
    pub path: String,
    /// Latency of every completed response, passing or not (µs).
    pub histogram: Histogram<u64>,
    /// Requests attempted (completed + transport errors).
    pub count: u64,
    /// Failed requests by stable reason key (`status:status`,
    /// `latency:latency`, `transport:timeout`, ...): a request counts once,
    /// under its first failing reason.
    pub errors: BTreeMap<String, u64>,
    /// Why requests failed, for people: the most frequent reasons (at most
    /// [`TOP_REASONS`]), most frequent first, each with one example.
    pub failures: Vec<FailureReason>,
}

/// How many failure reasons per request name reports show.
pub const TOP_REASONS: usize = 5;

/// One reason requests of a name failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureReason {
    /// The failing assertion's identity, the same key as in
    /// [`RequestStats::errors`]: `status:status`, `transport:timeout`,
    /// `metric:histogram db_query_duration_seconds p95 by query_type`, ...
    pub key: String,
    /// Requests that failed for this reason (each counts once, under its
    /// first failing assertion).
    pub count: u64,
    /// The first occurrence, expected beside actual, e.g.
    /// `histogram db_query_duration_seconds p95 by query_type: expected < 0.1,
    /// actual {query_type="insert"} 0.134 (23 samples)`.
    #[serde(default)]
    pub example: String,
}

impl RequestStats {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// One second (or the last, partial second) of the run as the collector
/// took it, histograms included. It lives only until the monitor has
/// streamed it to the [`IntervalLog`] and reduced it to an [`Interval`]:
/// keeping these for the whole run is what made memory grow by ~1 MiB a
/// second.
#[derive(Debug, Clone)]
pub struct IntervalHistograms {
    /// Offset of the interval's start from the run's start.
    pub start: Duration,
    pub length: Duration,
    /// Users active at the end of the interval (closed model).
    pub users: u32,
    pub per_name: BTreeMap<String, IntervalStats>,
}

#[derive(Debug, Clone)]
pub struct IntervalStats {
    pub histogram: Histogram<u64>,
    pub count: u64,
    pub errors: u64,
}

/// One second of the run as the charts draw it: scalars only, a few dozen
/// bytes per request name, so hours of them stay small. The histograms
/// themselves are in the interval log.
#[derive(Debug, Clone)]
pub struct Interval {
    pub start: Duration,
    pub length: Duration,
    pub users: u32,
    /// Every request name together.
    pub all: IntervalPoint,
    /// Per request name, aligned with [`Measurements::names`].
    pub per_name: Box<[IntervalPoint]>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntervalPoint {
    pub count: u64,
    pub errors: u64,
    /// Latency percentiles and maximum in µs (0 without responses).
    pub p50_us: u32,
    pub p95_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
}

impl IntervalPoint {
    pub fn of(h: &Histogram<u64>, count: u64, errors: u64) -> IntervalPoint {
        let q = |q: f64| {
            if h.is_empty() {
                0
            } else {
                u32::try_from(h.value_at_quantile(q)).unwrap_or(u32::MAX)
            }
        };
        IntervalPoint {
            count,
            errors,
            p50_us: q(0.50),
            p95_us: q(0.95),
            p99_us: q(0.99),
            max_us: u32::try_from(h.max()).unwrap_or(u32::MAX),
        }
    }
}

impl IntervalHistograms {
    /// The scalars of this second, per name in the order of `names`.
    pub fn scalars(&self, names: &[String]) -> Interval {
        let mut all = new_histogram();
        let (mut count, mut errors) = (0, 0);
        let per_name = names
            .iter()
            .map(|n| match self.per_name.get(n) {
                Some(s) => {
                    let _ = all.add(&s.histogram);
                    count += s.count;
                    errors += s.errors;
                    IntervalPoint::of(&s.histogram, s.count, s.errors)
                }
                None => IntervalPoint::default(),
            })
            .collect();
        Interval {
            start: self.start,
            length: self.length,
            users: self.users,
            all: IntervalPoint::of(&all, count, errors),
            per_name,
        }
    }
}

/// Where each second's histograms go as the second closes: the report
/// directory's `latency.hlog` (see `rundir::hlog::HlogStream`). The
/// regression gate and `merge` read them back from there.
pub trait IntervalLog {
    /// Called once, as the attack starts, with every request name the run
    /// can record.
    fn begin(
        &mut self,
        started_at: chrono::DateTime<chrono::Utc>,
        names: &[String],
    ) -> std::io::Result<()>;
    fn write(&mut self, interval: &IntervalHistograms) -> std::io::Result<()>;
    /// Flushes what is buffered; called once after the last interval.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// For callers that want no interval log (library users, tests).
pub struct NoIntervalLog;

impl IntervalLog for NoIntervalLog {
    fn begin(&mut self, _: chrono::DateTime<chrono::Utc>, _: &[String]) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&mut self, _: &IntervalHistograms) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The server's own view, from its Prometheus metrics scraped before and
/// after the run.
#[derive(Debug, Clone, Default)]
pub struct ServerCheck {
    pub routes: Vec<ServerRoute>,
    pub total_requests: f64,
    pub total_5xx: f64,
    /// Client and server disagree, a scrape failed, ...
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerRoute {
    pub method: String,
    pub route: String,
    pub requests: f64,
    pub errors_5xx: f64,
    /// From the delta of `http_request_duration_seconds` buckets.
    pub p95_seconds: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Measurements {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    /// Wall time the attack ran (ramp included).
    pub elapsed: Duration,
    pub stopped_by: StopReason,
    /// A second signal cut the teardown of begun iterations short: what they
    /// created may still be on the target.
    pub teardown_abandoned: bool,
    pub requests: BTreeMap<String, RequestStats>,
    /// Request names in the order of each [`Interval::per_name`].
    pub names: Vec<String>,
    pub intervals: Vec<Interval>,
    /// Writing the interval log failed (the run went on; the log is
    /// incomplete from that second on).
    pub interval_log_error: Option<String>,
    /// None when the target exposes no metrics (or they could not be read:
    /// see the warning inside), and in a shard (see `scrapes`).
    pub server: Option<ServerCheck>,
    /// The generator's own load during the attack, to tell a saturated
    /// generator from a slow server.
    pub generator: Option<GeneratorUse>,
    /// A run told when to start (`--start-at`): how late it started.
    pub start: Option<StartReport>,
    /// A shard's raw metrics scrapes, before and after: the cross-check of a
    /// sharded run is taken once, by `merge`, from the earliest scrape
    /// before and the latest after.
    pub scrapes: Option<RawScrapes>,
    /// A merged run: each shard's figures (empty otherwise).
    pub shards: Vec<ShardFigures>,
    /// Open model only: how well the generator kept its schedule.
    pub schedule: Option<ScheduleStats>,
}

/// What one scope of a run measured: one request name, or every name
/// merged.
pub struct ScopeData<'a> {
    pub histogram: std::borrow::Cow<'a, Histogram<u64>>,
    pub count: u64,
    pub errors: u64,
}

impl Measurements {
    /// Every name merged: the "all" line of each report and the whole-run
    /// scope of the objectives. Computed on demand rather than stored, so
    /// `requests` stays the one source a caller can fill in; merging a few
    /// per-name histograms once per report is cheap next to writing it.
    pub fn all(&self) -> ScopeData<'static> {
        let mut h = new_histogram();
        let (mut count, mut errors) = (0, 0);
        for r in self.requests.values() {
            // Same bounds everywhere (new_histogram); an add can only fail
            // on a value beyond them, which the recorder already refused.
            let _ = h.add(&r.histogram);
            count += r.count;
            errors += r.error_count();
        }
        ScopeData {
            histogram: std::borrow::Cow::Owned(h),
            count,
            errors,
        }
    }

    /// One request name's figures, borrowed.
    pub fn name(&self, name: &str) -> Option<ScopeData<'_>> {
        self.requests.get(name).map(|r| ScopeData {
            histogram: std::borrow::Cow::Borrowed(&r.histogram),
            count: r.count,
            errors: r.error_count(),
        })
    }
}

/// CPU time (user + system) the whole postdeploy process used during the
/// attack, and the cores it had (taken on the generating machine, not where
/// the reports are written).
#[derive(Debug, Clone, Copy)]
pub struct GeneratorUse {
    pub cpu: Duration,
    pub cores: usize,
}

impl GeneratorUse {
    /// The share of its cores the generator used over `elapsed` (1.0: all).
    pub fn share(&self, elapsed: Duration) -> f64 {
        self.cpu.as_secs_f64() / (elapsed.as_secs_f64().max(1e-9) * self.cores.max(1) as f64)
    }
}

/// One shard of a merged run, as `merge` found it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardFigures {
    pub index: u32,
    pub dir: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub skew_s: Option<f64>,
    pub requests: u64,
    pub failed: u64,
    /// Requests per second it achieved, and its share of the whole run's
    /// (open model: its offered rate; closed: the run's achieved rate in
    /// proportion to its users).
    pub achieved_rps: f64,
    pub expected_rps: f64,
    pub p50_ms: Option<f64>,
    /// Its generator's CPU use, as a share of the cores it had.
    pub cpu_share: Option<f64>,
    /// Why this shard's generator looks saturated (empty: it does not).
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StartReport {
    pub at: chrono::DateTime<chrono::Utc>,
    /// Actual start minus `at`, in seconds (negative: early, which a clock
    /// set apart from the launcher's can cause).
    pub skew_s: f64,
    pub max_skew_s: f64,
    /// Started later than `max_skew`: `merge` refuses this shard.
    pub late: bool,
}

#[derive(Debug, Clone)]
pub struct RawScrapes {
    pub before: (chrono::DateTime<chrono::Utc>, String),
    pub after: (chrono::DateTime<chrono::Utc>, String),
}

/// The open model's own precision, so a report can tell a slow server from
/// a late generator: the rate asked for beside the rate sent, and how late
/// each request went out compared with its intended time.
#[derive(Debug, Clone)]
pub struct ScheduleStats {
    /// `--rate`: requests per second.
    pub offered_rate: f64,
    /// Requests sent on their slots per second of the schedule.
    pub delivered_rate: f64,
    /// Slots that came due while the schedule ran.
    pub offered: u64,
    /// Requests sent on a slot (teardown after the stop is not).
    pub delivered: u64,
    /// How long the schedule ran: to the deadline, or to an early stop.
    pub window: Duration,
    /// Actual minus intended send time of every delivered request (µs).
    pub lateness: Histogram<u64>,
}

/// A generator using more than this share of its cores is flagged: its
/// figures may measure itself rather than the server.
pub const CPU_SATURATED: f64 = 0.90;

#[cfg(test)]
mod tests {
    use super::*;

    /// The history and the run directory store the key as text; every key
    /// postdeploy writes must read back as the reason it came from.
    #[test]
    fn every_stop_reason_reads_back_from_its_key() {
        for r in StopReason::ALL {
            assert_eq!(StopReason::from_key(r.key()), Some(r));
        }
        // The keys as the history has always stored them.
        let keys: Vec<&str> = StopReason::ALL.iter().map(|r| r.key()).collect();
        assert_eq!(keys, ["duration", "max_requests", "sigint", "sigterm"]);
        assert_eq!(StopReason::from_key("duration reached"), None);
        assert!(StopReason::Duration.covered_plan());
        assert!(!StopReason::Interrupted(Signal::Sigint).covered_plan());
    }
}
