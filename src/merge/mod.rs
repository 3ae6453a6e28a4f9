//! `postdeploy merge`: the shards of one sharded run added up into the run
//! they are parts of, exactly.
//!
//! Percentiles of parts cannot be combined, but HdrHistograms can: the
//! merged histogram of a request name is the sum of the shards' (same
//! settings, so the sum is exact), and the merged interval log adds the
//! shards' seconds aligned by wall-clock time. Counts and errors are
//! summed; the server cross-check is taken once, between the earliest
//! scrape before and the latest after, which bracket every shard's
//! requests. The merged run is then judged like any run: SLOs (those its
//! shards were judged by, plus `--slo`), error budgets and the regression
//! gate.
//!
//! Merging refuses what would give a wrong answer: a missing or duplicated
//! shard, a late one, or shards of different scenarios, models, targets or
//! histogram settings.

pub mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::measure::{
    IntervalHistograms, IntervalLog, IntervalStats, Measurements, Model, RequestStats,
    ScenarioInfo, Settings, ShardFigures, StopReason, TOP_REASONS,
};
use crate::rundir::hlog::read::{Logged, Reader};
pub use read::{ShardRun, read_shard};

/// How far a shard's p50 may sit from the others' median before it is
/// flagged: beyond both, a generator (not the server) is the likely cause.
const P50_APART_RATIO: f64 = 0.25;
const P50_APART_MS: f64 = 0.5;
/// A shard that achieved less than this share of its rate is flagged.
const RATE_SHORTFALL: f64 = 0.95;
pub use crate::measure::CPU_SATURATED;

/// Why shards cannot be merged. Every variant is the user's to fix
/// (exit 2), and names the shard directories involved.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no shard directories given (or the patterns matched none)")]
    NoShards,
    #[error("{}: {detail}", dir.display())]
    Unreadable { dir: PathBuf, detail: String },
    #[error("{}: not a shard (run `postdeploy load --shard I/N` or `--shards N`)", dir.display())]
    NotAShard { dir: PathBuf },
    #[error("shard {index} of {count} appears twice: {}", list(dirs))]
    Duplicate {
        index: u32,
        count: u32,
        dirs: Vec<PathBuf>,
    },
    #[error("shards missing: {} of {count} (have: {})", join(missing), list(have))]
    Missing {
        missing: Vec<u32>,
        count: u32,
        have: Vec<PathBuf>,
    },
    #[error("shard {index} ({}) started {skew_s:.2} s after --start-at, more than its --max-skew {max_skew_s:.2} s: it did not run with the others", dir.display())]
    Late {
        index: u32,
        dir: PathBuf,
        skew_s: f64,
        max_skew_s: f64,
    },
    #[error("the shards differ in {what}: {} has {a}, {} has {b}", dir_a.display(), dir_b.display())]
    Differ {
        what: &'static str,
        dir_a: PathBuf,
        a: String,
        dir_b: PathBuf,
        b: String,
    },
    #[error("{}: {detail}", path.display())]
    Log { path: PathBuf, detail: String },
    /// A signal asked the merge to stop before the interval logs were read
    /// through.
    #[error("stopped by a signal before the interval logs were merged")]
    Stopped,
}

fn list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// Expands the command line's shard arguments: directories, `summary.json`
/// files, or glob patterns (for shells that pass them through, and for
/// Kubernetes `args`, which no shell expands).
pub fn expand(args: &[String]) -> Result<Vec<PathBuf>, MergeError> {
    let mut out = Vec::new();
    for a in args {
        if a.contains(['*', '?', '[']) {
            let paths = glob::glob(a).map_err(|e| MergeError::Unreadable {
                dir: PathBuf::from(a),
                detail: format!("not a valid pattern: {e}"),
            })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            matched.sort();
            out.extend(matched);
        } else {
            out.push(PathBuf::from(a));
        }
    }
    if out.is_empty() {
        return Err(MergeError::NoShards);
    }
    Ok(out)
}

/// Reads every shard and refuses sets that cannot be merged; the shards
/// come back sorted by index.
pub fn read_all(dirs: &[PathBuf]) -> Result<Vec<ShardRun>, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::NoShards);
    }
    let mut shards = dirs
        .iter()
        .map(|d| read_shard(d))
        .collect::<Result<Vec<_>, _>>()?;
    shards.sort_by_key(|s| s.ident.shard.index);
    check(&shards)?;
    Ok(shards)
}

/// The refusals, in the order a user fixes them: the set of shards, then
/// lateness, then what each shard ran.
pub fn check(shards: &[ShardRun]) -> Result<(), MergeError> {
    let first = shards.first().ok_or(MergeError::NoShards)?;
    let count = first.ident.shard.count;
    for s in shards {
        if s.ident.shard.count != count {
            return Err(differ("the shard count", first, s, |r| {
                r.ident.shard.count.to_string()
            }));
        }
    }
    let mut by_index: BTreeMap<u32, Vec<PathBuf>> = BTreeMap::new();
    for s in shards {
        by_index
            .entry(s.ident.shard.index)
            .or_default()
            .push(s.dir.clone());
    }
    if let Some((index, dirs)) = by_index.iter().find(|(_, d)| d.len() > 1) {
        return Err(MergeError::Duplicate {
            index: *index,
            count,
            dirs: dirs.clone(),
        });
    }
    let missing: Vec<u32> = (0..count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing,
            count,
            have: shards.iter().map(|s| s.dir.clone()).collect(),
        });
    }
    for s in shards {
        if let Some(st) = s.start.as_ref().filter(|st| st.late) {
            return Err(MergeError::Late {
                index: s.ident.shard.index,
                dir: s.dir.clone(),
                skew_s: st.skew_s,
                max_skew_s: st.max_skew_s,
            });
        }
    }
    let scen = |r: &ShardRun| {
        r.scenarios
            .iter()
            .map(|(n, _, sha, w)| format!("{n} ({}…, weight {w})", &sha[..sha.len().min(12)]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let checks: [(&'static str, &Describe); 8] = [
        ("scenarios", &scen),
        ("model", &|r| r.model.clone()),
        ("target", &|r| r.target.clone()),
        ("histogram settings", &|r| r.histogram_encoding.to_string()),
        ("total users", &|r| r.ident.total_users.to_string()),
        ("total rate", &|r| format!("{:?}", r.ident.total_rate)),
        ("duration", &|r| format!("{} s", r.duration_s)),
        ("--start-at", &|r| {
            r.start
                .as_ref()
                .map(|s| s.at.to_rfc3339())
                .unwrap_or_else(|| "none".into())
        }),
    ];
    for (what, f) in checks {
        for s in &shards[1..] {
            if f(s) != f(first) {
                return Err(differ(what, first, s, f));
            }
        }
    }
    Ok(())
}

/// How a check shows one shard's value.
type Describe = dyn Fn(&ShardRun) -> String;

fn differ(
    what: &'static str,
    a: &ShardRun,
    b: &ShardRun,
    f: impl Fn(&ShardRun) -> String,
) -> MergeError {
    MergeError::Differ {
        what,
        dir_a: a.dir.clone(),
        a: f(a),
        dir_b: b.dir.clone(),
        b: f(b),
    }
}

/// What the whole run was asked to do.
pub fn settings(shards: &[ShardRun]) -> Settings {
    let s = &shards[0];
    Settings {
        target: s.target.clone(),
        target_local: s.target_local,
        model: if s.model == "open" {
            Model::Open
        } else {
            Model::Closed
        },
        users: s.ident.total_users,
        ramp: Duration::from_secs_f64(s.ramp_s.max(0.0)),
        duration: Duration::from_secs_f64(s.duration_s.max(0.0)),
        rate: s.ident.total_rate,
        max_requests: s.ident.total_max_requests,
        scenarios: s
            .scenarios
            .iter()
            .map(|(name, file, sha256, weight)| ScenarioInfo {
                name: name.clone(),
                file: file.clone(),
                sha256: sha256.clone(),
                weight: *weight,
            })
            .collect(),
        regress: s.regress.clone(),
    }
}

/// The objectives every shard was judged by (the stricter bound where two
/// differ).
pub fn recorded_slos(shards: &[ShardRun]) -> crate::verdict::SloSet {
    let mut set = crate::verdict::SloSet::default();
    for s in shards {
        for o in &s.slos {
            set.add_recorded(&o.scope, o.metric, o.objective.clone());
        }
    }
    set
}

/// The merged measurements; the merged interval log is written to `log`
/// second by second, so memory does not grow with the run's length.
/// `stop` is polled once per merged second: a merge of hour-long shards
/// takes seconds, and a person pressing Ctrl-C should not wait for it.
pub fn merge(
    shards: &[ShardRun],
    log: &mut dyn IntervalLog,
    stop: &dyn Fn() -> bool,
) -> Result<Measurements, MergeError> {
    let started_at = shards
        .iter()
        .map(|s| s.started_at)
        .min()
        .unwrap_or_default();
    let ended_at = shards.iter().map(|s| s.ended_at).max().unwrap_or_default();
    let elapsed = (ended_at - started_at).to_std().unwrap_or_default();
    let requests = add_requests(shards);
    let names: Vec<String> = requests.keys().cloned().collect();
    let mut log_error = log
        .begin(started_at, &names)
        .err()
        .map(|e| format!("the merged interval log could not be started: {e}"));
    let intervals =
        merge_logs(shards, started_at, &names, log, &mut log_error, stop).map_err(|f| match f {
            LogFailure::Shard(i, detail) => MergeError::Log {
                path: shards[i].hlog.clone(),
                detail,
            },
            LogFailure::Stopped => MergeError::Stopped,
        })?;
    if let Err(e) = log.finish()
        && log_error.is_none()
    {
        log_error = Some(format!(
            "the merged interval log could not be finished: {e}"
        ));
    }
    let stopped_by = stop_reason(shards);
    let server = cross_check(shards, &requests);
    let mut m = Measurements {
        started_at,
        ended_at,
        elapsed,
        stopped_by,
        teardown_abandoned: shards.iter().any(|s| s.teardown_abandoned),
        requests,
        names,
        intervals,
        interval_log_error: log_error,
        server,
        generator: None,
        start: None,
        scrapes: None,
        shards: Vec::new(),
        schedule: add_schedules(shards),
    };
    m.shards = shard_figures(shards, &m);
    Ok(m)
}

fn add_requests(shards: &[ShardRun]) -> BTreeMap<String, RequestStats> {
    let mut out: BTreeMap<String, RequestStats> = BTreeMap::new();
    let mut reasons: BTreeMap<String, BTreeMap<String, (u64, String)>> = BTreeMap::new();
    for s in shards {
        for (name, r) in &s.requests {
            match out.get_mut(name) {
                Some(t) => {
                    // Same settings (checked), so the sum is exact.
                    let _ = t.histogram.add(&r.histogram);
                    t.count += r.count;
                    for (k, v) in &r.errors {
                        *t.errors.entry(k.clone()).or_default() += v;
                    }
                }
                None => {
                    let mut r = r.clone();
                    r.failures.clear();
                    out.insert(name.clone(), r);
                }
            }
            let by_key = reasons.entry(name.clone()).or_default();
            for f in &r.failures {
                let e = by_key
                    .entry(f.key.clone())
                    .or_insert((0, f.example.clone()));
                e.0 += f.count;
            }
        }
    }
    for (name, by_key) in reasons {
        if let Some(t) = out.get_mut(&name) {
            let mut f: Vec<crate::measure::FailureReason> = by_key
                .into_iter()
                .map(|(key, (count, example))| crate::measure::FailureReason {
                    // Reasons cut from a shard's top list still count in
                    // `errors`; the top list is rebuilt from what is known.
                    count: t.errors.get(&key).copied().unwrap_or(count).max(count),
                    key,
                    example,
                })
                .collect();
            f.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
            f.truncate(TOP_REASONS);
            t.failures = f;
        }
    }
    out
}

/// The whole schedule: the shards' rates and slots summed, their lateness
/// histograms added (exactly, as the latencies are).
fn add_schedules(shards: &[ShardRun]) -> Option<crate::measure::ScheduleStats> {
    let mut all: Option<crate::measure::ScheduleStats> = None;
    for s in shards {
        let sc = s.schedule.as_ref()?;
        match &mut all {
            None => all = Some(sc.clone()),
            Some(a) => {
                a.offered_rate += sc.offered_rate;
                a.delivered_rate += sc.delivered_rate;
                a.offered += sc.offered;
                a.delivered += sc.delivered;
                a.window = a.window.max(sc.window);
                let _ = a.lateness.add(&sc.lateness);
            }
        }
    }
    all
}

fn stop_reason(shards: &[ShardRun]) -> StopReason {
    use crate::signals::Signal;
    for sig in [Signal::Sigterm, Signal::Sigint] {
        if shards.iter().any(|s| s.stopped_by == sig.name()) {
            return StopReason::Interrupted(sig);
        }
    }
    if shards.iter().any(|s| s.stopped_by == "max_requests") {
        StopReason::MaxRequests
    } else {
        StopReason::Duration
    }
}

/// One shard's interval log, read a line at a time, on the merged run's
/// clock.
struct LogReader {
    entries: Reader<std::io::BufReader<std::fs::File>>,
    /// Seconds from the merged run's start to this shard's.
    offset_s: f64,
    /// The next entry: (wall-clock second of the merged run, length,
    /// request name, what the shard logged for it).
    next: Option<(u64, f64, String, Logged)>,
}

impl LogReader {
    fn open(s: &ShardRun, merged_start: chrono::DateTime<chrono::Utc>) -> Result<Self, String> {
        let f = std::fs::File::open(&s.hlog).map_err(|e| format!("cannot read: {e}"))?;
        let mut r = LogReader {
            entries: Reader::new(std::io::BufReader::new(f), s.tags.clone()),
            offset_s: (s.started_at - merged_start).as_seconds_f64(),
            next: None,
        };
        r.advance()?;
        Ok(r)
    }

    /// Shards started together tick within milliseconds of each other:
    /// the nearest whole second is their common second.
    fn second(&self, start_s: f64) -> u64 {
        (start_s + self.offset_s).round().max(0.0) as u64
    }

    /// Reads up to the next entry: a tagged interval, or a name's failures.
    fn advance(&mut self) -> Result<(), String> {
        self.next = self.entries.next_entry()?.map(|e| {
            (
                self.second(e.start.as_secs_f64()),
                e.length.as_secs_f64(),
                e.name,
                e.logged,
            )
        });
        Ok(())
    }
}

enum LogFailure {
    /// Shard `.0`'s log could not be read.
    Shard(usize, String),
    Stopped,
}

fn merge_logs(
    shards: &[ShardRun],
    start: chrono::DateTime<chrono::Utc>,
    names: &[String],
    log: &mut dyn IntervalLog,
    log_error: &mut Option<String>,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<crate::measure::Interval>, LogFailure> {
    let mut readers = shards
        .iter()
        .enumerate()
        .map(|(i, s)| LogReader::open(s, start).map_err(|e| LogFailure::Shard(i, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut intervals = Vec::new();
    while let Some(second) = readers
        .iter()
        .filter_map(|r| r.next.as_ref().map(|n| n.0))
        .min()
    {
        if stop() {
            return Err(LogFailure::Stopped);
        }
        let mut per_name: BTreeMap<String, IntervalStats> = BTreeMap::new();
        let mut length: f64 = 0.0;
        for (i, r) in readers.iter_mut().enumerate() {
            while let Some((s, len, name, h)) = r.next.take() {
                if s != second {
                    r.next = Some((s, len, name, h));
                    break;
                }
                length = length.max(len);
                let e = per_name.entry(name).or_insert_with(|| IntervalStats {
                    histogram: crate::measure::new_histogram(),
                    count: 0,
                    errors: 0,
                });
                match &h {
                    Logged::Latencies(h) => {
                        let h = h.to_histogram();
                        let _ = e.histogram.add(&h);
                        e.count += h.len();
                    }
                    // Requests that got no response are in no histogram.
                    Logged::Failures { unanswered, errors } => {
                        e.count += unanswered;
                        e.errors += errors;
                    }
                }
                r.advance().map_err(|e| LogFailure::Shard(i, e))?;
            }
        }
        let iv = IntervalHistograms {
            start: Duration::from_secs(second),
            length: Duration::from_secs_f64(length.clamp(0.001, 1.0)),
            users: 0,
            per_name,
        };
        if log_error.is_none()
            && let Err(e) = log.write(&iv)
        {
            *log_error = Some(format!(
                "the merged interval log stopped at {second} s: {e}"
            ));
        }
        intervals.push(iv.scalars(names));
    }
    Ok(intervals)
}

/// The server's view of the whole run: the earliest scrape before any
/// shard's first request and the latest after every shard's last.
fn cross_check(
    shards: &[ShardRun],
    requests: &BTreeMap<String, RequestStats>,
) -> Option<crate::measure::ServerCheck> {
    let metrics_path = shards[0].ident.metrics_path.clone()?;
    let warn = |w: String| crate::measure::ServerCheck {
        warnings: vec![w],
        ..Default::default()
    };
    if let Some(s) = shards.iter().find(|s| s.scrapes.is_none()) {
        return Some(warn(format!(
            "shard {} has no metrics scrapes ({}); no server-side cross-check",
            s.ident.shard.index,
            s.dir.display()
        )));
    }
    let before = shards
        .iter()
        .filter_map(|s| s.scrapes.as_ref().map(|sc| &sc.0))
        .min_by_key(|(at, _)| *at)?;
    let after = shards
        .iter()
        .filter_map(|s| s.scrapes.as_ref().map(|sc| &sc.1))
        .max_by_key(|(at, _)| *at)?;
    let parse = |p: &Path| -> Result<crate::metrics::Exposition, String> {
        let text =
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        crate::metrics::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let (b, a) = match (parse(&before.1), parse(&after.1)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => return Some(warn(e)),
    };
    let path = metrics_path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let responses = requests
        .values()
        .filter(|r| r.path.split('?').next() != Some(path.as_str()))
        .map(|r| r.histogram.len())
        .sum();
    Some(crate::load::server::compare(&b, &a, responses))
}

fn shard_figures(shards: &[ShardRun], m: &Measurements) -> Vec<ShardFigures> {
    let total: u64 = m.requests.values().map(|r| r.count).sum();
    let whole_rps = total as f64 / m.elapsed.as_secs_f64().max(1e-9);
    let p50 = |s: &ShardRun| {
        let mut all = crate::measure::new_histogram();
        for r in s.requests.values() {
            let _ = all.add(&r.histogram);
        }
        crate::measure::quantile_ms(&all, 0.5)
    };
    let p50s: Vec<Option<f64>> = shards.iter().map(p50).collect();
    shards
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let requests: u64 = s.requests.values().map(|r| r.count).sum();
            let failed: u64 = s.requests.values().map(|r| r.error_count()).sum();
            let achieved = requests as f64 / s.elapsed_s.max(1e-9);
            let expected = match s.rate {
                Some(r) => r,
                None => whole_rps * f64::from(s.users) / f64::from(s.ident.total_users.max(1)),
            };
            let mut flags = Vec::new();
            if expected > 0.0 && achieved < RATE_SHORTFALL * expected {
                flags.push(format!(
                    "achieved {achieved:.1} requests/s, below {:.0}% of its share ({expected:.1}/s)",
                    RATE_SHORTFALL * 100.0
                ));
            }
            let others: Vec<f64> = p50s
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, p)| *p)
                .collect();
            if let (Some(mine), Some(med)) = (p50s[i], median(others)) {
                let apart = (mine - med).abs();
                if apart > P50_APART_MS && apart > P50_APART_RATIO * med {
                    flags.push(format!(
                        "p50 {mine:.3} ms is far from the other shards' median {med:.3} ms"
                    ));
                }
            }
            if let Some(c) = s.cpu_share.filter(|c| *c > CPU_SATURATED) {
                flags.push(format!(
                    "its generator used {:.0}% of its CPU",
                    c * 100.0
                ));
            }
            ShardFigures {
                index: s.ident.shard.index,
                dir: s.dir.display().to_string(),
                started_at: s.started_at,
                skew_s: s.start.as_ref().map(|st| st.skew_s),
                requests,
                failed,
                achieved_rps: achieved,
                expected_rps: expected,
                p50_ms: p50s[i],
                cpu_share: s.cpu_share,
                flags,
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}
