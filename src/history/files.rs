//! A load run read back from its report directory: `summary.json` for what
//! was asked and the totals, `latency.hlog` beside it for the per-second
//! histograms, coarsened into blocks exactly as the store coarsens them.
//! So `compare` on two directories and on the same two stored runs see the
//! same data and give the same verdicts.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::fingerprint::Fingerprint;
use super::record::{
    LoadRecord, NameRecord, RunKind, RunMeta, SloLine, block_count, block_secs,
    decode,
};
use crate::measure::new_histogram;

use crate::rundir::{FORMATS, HLOG_FILE, summary_path};
use crate::rundir::blocks::blocks_from_log;

pub fn read_run(path: &Path) -> Result<LoadRecord, String> {
    let summary = summary_path(path);
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| format!("cannot read {}: {e}", summary.display()))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", summary.display()))?;
    let hlog_name = doc["files"]["hlog"]
        .as_str()
        .unwrap_or(HLOG_FILE);
    let hlog_path = summary.parent().unwrap_or(Path::new(".")).join(hlog_name);
    let hlog = std::fs::File::open(&hlog_path).map_err(|e| {
        format!(
            "cannot read {} (the interval log the comparison needs beside {}): {e}",
            hlog_path.display(),
            summary.display()
        )
    })?;
    from_documents(&doc, std::io::BufReader::new(hlog))
        .map_err(|e| format!("{}: {e}", summary.display()))
}

/// A record from the two documents' contents.
pub fn from_documents(doc: &Value, hlog: impl std::io::BufRead) -> Result<LoadRecord, String> {
    let format = doc["format"].as_str().unwrap_or("");
    if !FORMATS.contains(&format) {
        return Err(format!(
            "not a postdeploy load summary (format {format:?}; expected one of {FORMATS:?})"
        ));
    }
    let run = &doc["run"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    let time = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| "run.started_at/ended_at missing or not RFC 3339".to_string())
    };
    let env = s(&run["env"]);
    let target = s(&run["target"]).ok_or("run.target missing")?;
    let model = s(&run["model"]).ok_or("run.model missing")?;
    let scenarios: Vec<(String, String)> = run["scenarios"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        s(&x["name"]).unwrap_or_default(),
                        s(&x["sha256"]).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut sorted = scenarios;
    sorted.sort();
    let fingerprint = Fingerprint {
        scope: super::fingerprint::scope(
            env.as_deref(),
            &target,
            run["target_local"].as_bool().unwrap_or(false),
        ),
        scenarios: sorted,
        users: (model == "closed")
            .then(|| run["users"].as_u64().map(|u| u as u32))
            .flatten(),
        rate: (model == "open").then(|| run["rate"].as_f64()).flatten(),
        model,
        duration_s: run["duration_s"].as_f64().ok_or("run.duration_s missing")?,
    };
    let elapsed_s = run["elapsed_s"].as_f64().ok_or("run.elapsed_s missing")?;
    let provenance: crate::provenance::Provenance =
        serde_json::from_value(run["provenance"].clone()).unwrap_or_default();
    let meta = RunMeta {
        id: None,
        uid: s(&run["uid"]).unwrap_or_else(|| {
            // A v1 summary has no uid: its start time and target name it.
            format!("{}@{}", run["started_at"].as_str().unwrap_or(""), target)
        }),
        kind: RunKind::Load,
        target,
        target_local: run["target_local"].as_bool().unwrap_or(false),
        env,
        started_at: time(&run["started_at"])?,
        ended_at: time(&run["ended_at"])?,
        tool_version: s(&doc["tool"]["version"]).unwrap_or_default(),
        provenance,
        stopped_by: s(&run["stopped_by"]).unwrap_or_else(|| "duration".into()),
        passed: doc["passed"].as_bool().unwrap_or(false),
        regressed: doc["regression"]["regressed"].as_bool().unwrap_or(false),
        regressions: Vec::new(),
    };

    let bs = block_secs(elapsed_s);
    let n = block_count(elapsed_s, bs);
    let mut by_tag: BTreeMap<String, String> = BTreeMap::new();
    let mut names = BTreeMap::new();
    let requests = doc["requests"].as_object().ok_or("requests missing")?;
    for (name, r) in requests {
        let histogram = match r["histogram"].as_str() {
            Some(b64) => decode(b64).map_err(|e| format!("requests[{name:?}]: {e}"))?,
            None => new_histogram(),
        };
        if let Some(tag) = r["hlog_tag"].as_str() {
            by_tag.insert(tag.to_string(), name.clone());
        }
        let errors: BTreeMap<String, u64> =
            serde_json::from_value(r["errors"].clone()).unwrap_or_default();
        names.insert(
            name.clone(),
            NameRecord {
                count: r["count"].as_u64().unwrap_or(0),
                failed: r["failed"].as_u64().unwrap_or(0),
                errors,
                histogram,
                blocks: vec![crate::measure::Sparse::default(); n],
            },
        );
    }
    for (name, b) in blocks_from_log(hlog, &by_tag, bs, n)? {
        if let Some(rec) = names.get_mut(&name) {
            rec.blocks = b;
        }
    }
    let slos = doc["slo"]["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["unit"] == "ms")
                .filter_map(|r| {
                    Some(SloLine {
                        scope: s(&r["scope"])?,
                        metric: s(&r["metric"])?,
                        threshold_ms: r["threshold"].as_f64()?,
                        passed: r["passed"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(LoadRecord {
        meta,
        fingerprint,
        elapsed_s,
        block_secs: bs,
        names,
        slos,
        regress: serde_json::from_value(run["regress"].clone()).unwrap_or_default(),
    })
}
