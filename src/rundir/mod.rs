//! The run directory: what a load run leaves on disk, and the one place
//! that knows its layout. The runner writes through it, and history,
//! merge and compare read runs back only through it, so a file name or a
//! format version changes here and nowhere else.
//!
//! - [`hlog`]: `latency.hlog`, its one writer and its one reader;
//! - [`summary`]: `summary.json` as a type, both directions;
//! - [`blocks`]: a run's per-name histograms coarsened into blocks, read
//!   back from its interval log.

pub mod blocks;
pub mod hlog;
pub mod summary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Version tag of `summary.json`; bump on any breaking change.
/// v2 adds `run.uid`, `run.env`, `history` and `regression`.
pub const FORMAT: &str = "postdeploy.load/v2";
/// `summary.json` formats the readers understand.
pub const FORMATS: &[&str] = &["postdeploy.load/v1", FORMAT];

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

/// `PATH` may be a report directory or its `summary.json`.
pub fn summary_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(SUMMARY_FILE)
    } else {
        path.to_path_buf()
    }
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
