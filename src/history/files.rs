//! A load run read back from its report directory: `summary.json` for what
//! was asked and the totals, `latency.hlog` beside it for the per-second
//! histograms, coarsened into blocks exactly as the store coarsens them.
//! So `compare` on two directories and on the same two stored runs see the
//! same data and give the same verdicts.

use std::collections::BTreeMap;
use std::path::Path;

use crate::measure::{Model, new_histogram};
use crate::record::fingerprint::Fingerprint;
use crate::record::{
    LoadRecord, NameRecord, RunKind, RunMeta, SloLine, block_count, block_secs, decode,
};

use crate::rundir::blocks::blocks_from_log;
use crate::rundir::summary::Summary;
use crate::rundir::summary_path;

pub fn read_run(path: &Path) -> Result<LoadRecord, String> {
    let summary = summary_path(path);
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| format!("cannot read {}: {e}", summary.display()))?;
    let doc = Summary::parse(&text).map_err(|e| format!("{}: {e}", summary.display()))?;
    let hlog_path = summary
        .parent()
        .unwrap_or(Path::new("."))
        .join(&doc.files.hlog);
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
pub fn from_documents(doc: &Summary, hlog: impl std::io::BufRead) -> Result<LoadRecord, String> {
    let run = &doc.run;
    let model = run.model.key().to_string();
    let mut scenarios: Vec<(String, String)> = run
        .scenarios
        .iter()
        .map(|x| (x.name.clone(), x.sha256.clone()))
        .collect();
    scenarios.sort();
    let fingerprint = Fingerprint {
        scope: crate::record::fingerprint::scope(run.env.as_deref(), &run.target, run.target_local),
        scenarios,
        users: (run.model == Model::Closed).then_some(run.users),
        rate: (run.model == Model::Open).then_some(run.rate).flatten(),
        model,
        duration_s: run.duration_s,
    };
    let elapsed_s = run.elapsed_s;
    let meta = RunMeta {
        id: None,
        uid: run.uid.clone().unwrap_or_else(|| {
            // A v1 summary has no uid: its start time and target name it.
            format!(
                "{}@{}",
                run.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                run.target
            )
        }),
        kind: RunKind::Load,
        target: run.target.clone(),
        target_local: run.target_local,
        env: run.env.clone(),
        started_at: run.started_at,
        ended_at: run.ended_at,
        tool_version: doc.tool.version.clone(),
        provenance: run.provenance.clone(),
        stopped_by: run.stopped_by.clone(),
        passed: doc.passed,
        regressed: doc
            .regression
            .as_ref()
            .and_then(|r| r["regressed"].as_bool())
            .unwrap_or(false),
        regressions: Vec::new(),
    };

    let bs = block_secs(elapsed_s);
    let n = block_count(elapsed_s, bs);
    let mut by_tag: BTreeMap<String, String> = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (name, r) in &doc.requests {
        let histogram = match &r.histogram {
            Some(b64) => decode(b64).map_err(|e| format!("requests[{name:?}]: {e}"))?,
            None => new_histogram(),
        };
        if let Some(tag) = &r.hlog_tag {
            by_tag.insert(tag.clone(), name.clone());
        }
        names.insert(
            name.clone(),
            NameRecord {
                count: r.count,
                failed: r.failed,
                errors: r.errors.clone(),
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
    let slos = doc
        .slo
        .results
        .iter()
        .filter(|r| r.unit == "ms")
        .map(|r| SloLine {
            scope: r.scope.clone(),
            metric: r.metric.clone(),
            threshold_ms: r.threshold,
            passed: r.passed,
        })
        .collect();
    Ok(LoadRecord {
        meta,
        fingerprint,
        elapsed_s,
        block_secs: bs,
        names,
        slos,
        regress: run.regress.clone(),
    })
}
