//! One shard's report directory read back: its `summary.json` (what it was
//! asked, its totals and exact histograms) and where its interval log and
//! metrics scrapes are. Nothing here judges whether shards fit together;
//! [`super::check`] does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::MergeError;
use crate::measure::{RequestStats, StartReport, new_histogram};
use crate::rundir::ShardIdentity;
use crate::rundir::summary::Summary;

/// When a metrics scrape was taken, and the file holding it.
pub type Scrape = (chrono::DateTime<chrono::Utc>, PathBuf);

/// One shard as its reports describe it.
#[derive(Debug)]
pub struct ShardRun {
    pub dir: PathBuf,
    pub ident: ShardIdentity,
    pub start: Option<StartReport>,
    pub target: String,
    pub target_local: bool,
    pub model: String,
    pub users: u32,
    pub rate: Option<f64>,
    pub ramp_s: f64,
    pub duration_s: f64,
    /// (name, file, sha256, weight), sorted.
    pub scenarios: Vec<(String, String, String, u32)>,
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
    pub histogram_encoding: Value,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub elapsed_s: f64,
    pub stopped_by: String,
    pub teardown_abandoned: bool,
    pub requests: BTreeMap<String, RequestStats>,
    /// Interval-log tag → request name.
    pub tags: BTreeMap<String, String>,
    pub hlog: PathBuf,
    /// (time, file) of the metrics scrapes before and after.
    pub scrapes: Option<(Scrape, Scrape)>,
    pub cpu_share: Option<f64>,
    /// The open model's schedule as the shard kept it.
    pub schedule: Option<crate::measure::ScheduleStats>,
    /// The objectives of the whole run, as the shard recorded them.
    pub slos: Vec<crate::verdict::slo::RecordedObjective>,
    pub provenance: crate::provenance::Provenance,
}

pub fn read_shard(dir: &Path) -> Result<ShardRun, MergeError> {
    let unreadable = |detail: String| MergeError::Unreadable {
        dir: dir.to_path_buf(),
        detail,
    };
    let summary = crate::rundir::summary_path(dir);
    let dir = summary.parent().unwrap_or(Path::new(".")).to_path_buf();
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| unreadable(format!("cannot read {}: {e}", summary.display())))?;
    let doc = Summary::parse_as(&text, &[crate::rundir::FORMAT])
        .map_err(|e| unreadable(format!("{}: {e}", summary.display())))?;
    let Some(shard) = doc.shard else {
        return Err(MergeError::NotAShard { dir });
    };
    let run = doc.run;
    let mut scenarios: Vec<(String, String, String, u32)> = run
        .scenarios
        .into_iter()
        .map(|x| (x.name, x.file, x.sha256, x.weight))
        .collect();
    scenarios.sort();

    let mut requests = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for (name, r) in doc.requests {
        let histogram = match &r.histogram {
            Some(b64) => crate::measure::codec::decode(b64)
                .map_err(|e| unreadable(format!("requests[{name:?}].histogram: {e}")))?,
            None => new_histogram(),
        };
        if let Some(tag) = r.hlog_tag {
            tags.insert(tag, name.clone());
        }
        requests.insert(
            name,
            RequestStats {
                method: r.method.unwrap_or_default(),
                path: r.path.unwrap_or_default(),
                histogram,
                count: r.count,
                errors: r.errors,
                failures: r.failures.unwrap_or_default(),
            },
        );
    }
    let scrapes = shard.scrapes.map(|sc| {
        (
            (sc.before_at, dir.join(sc.before)),
            (sc.after_at, dir.join(sc.after)),
        )
    });
    let schedule = match doc.schedule {
        None => None,
        Some(sc) => Some(crate::measure::ScheduleStats {
            offered_rate: sc.offered_rate,
            delivered_rate: sc.delivered_rate,
            offered: sc.offered,
            delivered: sc.delivered,
            window: std::time::Duration::from_secs_f64(sc.window_s.max(0.0)),
            lateness: match &sc.lateness_us.histogram {
                Some(b64) => crate::measure::codec::decode(b64)
                    .map_err(|e| unreadable(format!("schedule.lateness_us.histogram: {e}")))?,
                None => new_histogram(),
            },
        }),
    };
    let ident = shard.ident;
    Ok(ShardRun {
        schedule,
        hlog: dir.join(&doc.files.hlog),
        slos: ident.objectives.clone(),
        ident,
        start: shard.start,
        target: run.target,
        target_local: run.target_local,
        model: run.model.key().to_string(),
        users: run.users,
        rate: run.rate,
        ramp_s: run.ramp_s,
        duration_s: run.duration_s,
        scenarios,
        regress: run.regress,
        histogram_encoding: doc.histogram_encoding,
        started_at: run.started_at,
        ended_at: run.ended_at,
        elapsed_s: run.elapsed_s,
        stopped_by: run.stopped_by,
        teardown_abandoned: run.teardown_abandoned,
        requests,
        tags,
        scrapes,
        cpu_share: doc.generator.and_then(|g| g.cpu_share),
        provenance: run.provenance,
        dir,
    })
}
