//! Reports of a load run, written into one output directory:
//!
//! - `summary.json`: the versioned machine-readable record
//!   (`schemas/report.schema.json`), with every histogram embedded;
//! - `latency.hlog`: HdrHistogram interval log, one histogram per second and
//!   request name, streamed into the directory while the run goes
//!   ([`hlog::HlogStream`]) rather than written here;
//! - `<name>.hgrm` (and `all.hgrm`): percentile distributions for the
//!   HdrHistogram plotter;
//! - `junit.xml`: one test case per SLO and error budget;
//! - `report.html`: a self-contained page for people.
//!
//! The verdict is decided before any of them is written
//! ([`crate::verdict`]); every file shows the same one.

pub mod hgrm;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod schedule;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use summary::{FORMAT, Provenance};

use crate::measure::{Measurements, Settings};
use crate::report::{write_file, write_redacted};
use crate::verdict::LoadVerdict;
use crate::verdict::slo::all_data;

pub const SUMMARY_FILE: &str = "summary.json";
pub const HLOG_FILE: &str = "latency.hlog";
pub const JUNIT_FILE: &str = "junit.xml";
pub const HTML_FILE: &str = "report.html";
/// A shard's raw metrics scrapes, for `merge`'s cross-check.
pub const SCRAPE_BEFORE_FILE: &str = "server-before.prom";
pub const SCRAPE_AFTER_FILE: &str = "server-after.prom";
/// File stem of the all-names aggregate; request names never get it.
pub const ALL_STEM: &str = "all";

/// Who a run is beyond its settings: its unique id, environment label and
/// where the history recorded it.
#[derive(Debug, Clone, Default)]
pub struct RunIdentity {
    pub uid: String,
    pub env: Option<String>,
    /// (store location, run id).
    pub history: Option<(String, i64)>,
    /// This run is one shard of a larger one.
    pub shard: Option<ShardIdentity>,
}

/// What a shard was, and what the whole run it is part of asked for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardIdentity {
    #[serde(flatten)]
    pub shard: crate::load::shard::Shard,
    pub total_users: u32,
    pub total_rate: Option<f64>,
    pub total_max_requests: Option<u64>,
    /// The metrics path scraped (None: no cross-check).
    pub metrics_path: Option<String>,
    /// Every objective of the run, the server's included (which the shard
    /// itself cannot judge): `merge` judges the whole by these.
    pub objectives: Vec<crate::verdict::slo::RecordedObjective>,
}

/// Writes every report of a judged run into `out_dir` (created if needed)
/// and returns the files written, in writing order.
pub fn write_all(
    out_dir: &Path,
    settings: &Settings,
    m: &Measurements,
    verdict: &LoadVerdict,
    prov: &Provenance,
    ident: &RunIdentity,
) -> anyhow::Result<Vec<PathBuf>> {
    let results = &verdict.slo_results;
    let names = Names::new(m.requests.keys());
    let mut files = Vec::new();
    // The interval log was streamed into the directory during the run
    // (`hlog::HlogStream`); it is listed, not written, here.
    let hlog_path = out_dir.join(HLOG_FILE);
    if hlog_path.is_file() {
        files.push(hlog_path);
    }
    let mut put_as = |name: &str, bytes: &[u8], redacted: bool| -> anyhow::Result<()> {
        let p = out_dir.join(name);
        if redacted {
            write_redacted(&p, bytes)?;
        } else {
            write_file(&p, bytes)?;
        }
        files.push(p);
        Ok(())
    };

    let mut summary = summary::summary_json(settings, m, verdict, prov, ident);
    crate::secrets::global().redact_json(&mut summary, &["histogram"]);
    put_as(SUMMARY_FILE, &serde_json::to_vec_pretty(&summary)?, true)?;
    let mut put = |name: &str, bytes: &[u8]| put_as(name, bytes, false);
    let all = all_data(m);
    put(
        &format!("{ALL_STEM}.hgrm"),
        hgrm::percentile_distribution(&all.histogram, hgrm::TICKS, 1000.0).as_bytes(),
    )?;
    for (name, r) in &m.requests {
        let text = hgrm::percentile_distribution(&r.histogram, hgrm::TICKS, 1000.0);
        put(&format!("{}.hgrm", names.stem(name)), text.as_bytes())?;
    }
    put(
        JUNIT_FILE,
        junit::render(settings, m, results, verdict.regression.as_ref(), prov)?.as_bytes(),
    )?;
    let mut listed: Vec<String> = vec![SUMMARY_FILE.into(), HLOG_FILE.into(), JUNIT_FILE.into()];
    listed.push(format!("{ALL_STEM}.hgrm"));
    listed.extend(m.requests.keys().map(|n| format!("{}.hgrm", names.stem(n))));
    put(
        HTML_FILE,
        html::render(settings, m, verdict, prov, &listed)?.as_bytes(),
    )?;
    Ok(files)
}

/// File stems and interval-log tags of request names: both forbid spaces
/// and commas, and files must be portable, so names are reduced to
/// `[A-Za-z0-9._-]`. Collisions (and the reserved `all`) get `-2`, `-3`...
#[derive(Debug, Clone, Default)]
pub struct Names {
    stems: BTreeMap<String, String>,
}

impl Names {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Names {
        let mut taken: std::collections::BTreeSet<String> = [ALL_STEM.to_string()].into();
        let mut stems = BTreeMap::new();
        for n in names {
            let base = sanitize(&crate::secrets::redact(n));
            let mut stem = base.clone();
            let mut i = 2;
            while taken.contains(&stem) {
                stem = format!("{base}-{i}");
                i += 1;
            }
            taken.insert(stem.clone());
            stems.insert(n.clone(), stem);
        }
        Names { stems }
    }

    /// The stem of a known name (a sanitized copy for an unknown one).
    pub fn stem(&self, name: &str) -> &str {
        self.stems
            .get(name)
            .map(String::as_str)
            .unwrap_or("unknown")
    }

    /// (request name, stem) pairs, sorted by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.stems.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `health is healthy` → `health_is_healthy`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches(|c| c == '_' || c == '.');
    if trimmed.is_empty() {
        "request".into()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_and_unique() {
        let names: Vec<String> = [
            "health is healthy",
            "health, is healthy",
            "all",
            "../etc",
            "é",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let n = Names::new(&names);
        assert_eq!(n.stem("health is healthy"), "health_is_healthy");
        assert_eq!(n.stem("health, is healthy"), "health_is_healthy-2");
        assert_eq!(n.stem("all"), "all-2");
        assert_eq!(n.stem("../etc"), "etc");
        assert_eq!(n.stem("é"), "request");
    }
}
