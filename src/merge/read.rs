//! One shard's report directory read back: its `summary.json` (what it was
//! asked, its totals and exact histograms) and where its interval log and
//! metrics scrapes are. Nothing here judges whether shards fit together;
//! [`super::check`] does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::MergeError;
use crate::measure::{FailureReason, RequestStats, StartReport, new_histogram};
use crate::rundir::ShardIdentity;

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
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| unreadable(format!("{}: not JSON: {e}", summary.display())))?;
    if doc["format"] != crate::rundir::FORMAT {
        return Err(unreadable(format!(
            "{}: format {} is not {}",
            summary.display(),
            doc["format"],
            crate::rundir::FORMAT
        )));
    }
    if doc["shard"].is_null() {
        return Err(MergeError::NotAShard { dir });
    }
    let ident: ShardIdentity = serde_json::from_value(doc["shard"].clone())
        .map_err(|e| unreadable(format!("shard: {e}")))?;
    let start: Option<StartReport> = serde_json::from_value(doc["shard"]["start"].clone())
        .map_err(|e| unreadable(format!("shard.start: {e}")))?;
    let run = &doc["run"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    let time = |v: &Value, what: &str| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| unreadable(format!("{what} missing or not RFC 3339")))
    };
    let mut scenarios: Vec<(String, String, String, u32)> = run["scenarios"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        s(&x["name"]).unwrap_or_default(),
                        s(&x["file"]).unwrap_or_default(),
                        s(&x["sha256"]).unwrap_or_default(),
                        x["weight"].as_u64().unwrap_or(1) as u32,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    scenarios.sort();

    let mut requests = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for (name, r) in doc["requests"]
        .as_object()
        .ok_or_else(|| unreadable("requests missing".into()))?
    {
        let histogram = match r["histogram"].as_str() {
            Some(b64) => crate::measure::codec::decode(b64)
                .map_err(|e| unreadable(format!("requests[{name:?}].histogram: {e}")))?,
            None => new_histogram(),
        };
        if let Some(tag) = r["hlog_tag"].as_str() {
            tags.insert(tag.to_string(), name.clone());
        }
        let failures: Vec<FailureReason> = r["failures"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| {
                        Some(FailureReason {
                            key: s(&f["key"])?,
                            count: f["count"].as_u64()?,
                            example: s(&f["example"]).unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        requests.insert(
            name.clone(),
            RequestStats {
                method: s(&r["method"]).unwrap_or_default(),
                path: s(&r["path"]).unwrap_or_default(),
                histogram,
                count: r["count"].as_u64().unwrap_or(0),
                errors: serde_json::from_value(r["errors"].clone()).unwrap_or_default(),
                failures,
            },
        );
    }
    let scrapes = match &doc["shard"]["scrapes"] {
        Value::Null => None,
        sc => Some((
            (
                time(&sc["before_at"], "shard.scrapes.before_at")?,
                dir.join(sc["before"].as_str().unwrap_or_default()),
            ),
            (
                time(&sc["after_at"], "shard.scrapes.after_at")?,
                dir.join(sc["after"].as_str().unwrap_or_default()),
            ),
        )),
    };
    let slos = ident.objectives.clone();
    let schedule = match &doc["schedule"] {
        Value::Null => None,
        sc => Some(crate::measure::ScheduleStats {
            offered_rate: sc["offered_rate"].as_f64().unwrap_or(0.0),
            delivered_rate: sc["delivered_rate"].as_f64().unwrap_or(0.0),
            offered: sc["offered"].as_u64().unwrap_or(0),
            delivered: sc["delivered"].as_u64().unwrap_or(0),
            window: std::time::Duration::from_secs_f64(
                sc["window_s"].as_f64().unwrap_or(0.0).max(0.0),
            ),
            lateness: match sc["lateness_us"]["histogram"].as_str() {
                Some(b64) => crate::measure::codec::decode(b64)
                    .map_err(|e| unreadable(format!("schedule.lateness_us.histogram: {e}")))?,
                None => new_histogram(),
            },
        }),
    };
    Ok(ShardRun {
        schedule,
        hlog: dir.join(
            doc["files"]["hlog"]
                .as_str()
                .unwrap_or(crate::rundir::HLOG_FILE),
        ),
        ident,
        start,
        target: s(&run["target"]).unwrap_or_default(),
        target_local: run["target_local"].as_bool().unwrap_or(false),
        model: s(&run["model"]).unwrap_or_default(),
        users: run["users"].as_u64().unwrap_or(0) as u32,
        rate: run["rate"].as_f64(),
        ramp_s: run["ramp_s"].as_f64().unwrap_or(0.0),
        duration_s: run["duration_s"].as_f64().unwrap_or(0.0),
        scenarios,
        regress: serde_json::from_value(run["regress"].clone()).unwrap_or_default(),
        histogram_encoding: doc["histogram_encoding"].clone(),
        started_at: time(&run["started_at"], "run.started_at")?,
        ended_at: time(&run["ended_at"], "run.ended_at")?,
        elapsed_s: run["elapsed_s"].as_f64().unwrap_or(0.0),
        stopped_by: s(&run["stopped_by"]).unwrap_or_else(|| "duration".into()),
        teardown_abandoned: run["teardown_abandoned"].as_bool().unwrap_or(false),
        requests,
        tags,
        scrapes,
        cpu_share: doc["generator"]["cpu_share"].as_f64(),
        slos,
        provenance: serde_json::from_value(run["provenance"].clone()).unwrap_or_default(),
        dir,
    })
}
