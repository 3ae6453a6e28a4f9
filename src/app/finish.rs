//! The end of a load run, and of a merge, in one direction: judge the
//! measurements (objectives, then the regression gate), build the judged
//! run once, then hand it to the store, the run directory, the GitHub
//! outputs and the console, in that order. Nothing is patched after it is
//! built. One path for both, so a merged run is judged exactly as a run on
//! one machine would be.

use std::path::Path;
use std::time::Duration;

use super::gate::{Gate, GateOptions};
use crate::error::Error;
use crate::event::{Event, Sink};
use crate::measure::{Measurements, Settings};
use crate::provenance::Provenance;
use crate::record::LoadRecord;
use crate::report;
use crate::rundir;
use crate::verdict::{LoadVerdict, SloSet};

pub struct Finish<'a> {
    pub out_dir: &'a Path,
    pub settings: &'a Settings,
    pub slos: &'a SloSet,
    pub gate: &'a Gate,
    pub gate_opts: &'a GateOptions,
    pub provenance: &'a Provenance,
    pub env: Option<&'a str>,
    pub shard: Option<rundir::ShardIdentity>,
    /// The duration asked for (an interrupted run says how much it covered).
    pub planned: Duration,
}

pub struct Finished {
    pub verdict: LoadVerdict,
    /// For the console, which the caller owns.
    pub warnings: Vec<String>,
}

/// A run with its final verdict and the record the history keeps of it,
/// both built once.
struct Judged {
    verdict: LoadVerdict,
    record: LoadRecord,
}

/// Judges `m`, records it, writes its reports into `f.out_dir` (where its
/// interval log was already streamed) and tells `sink`.
pub async fn finish(
    f: Finish<'_>,
    m: &Measurements,
    sink: &mut dyn Sink,
) -> Result<Finished, Error> {
    let mut warnings = Vec::new();
    let Judged { verdict, record } = judge(&f, m, &mut warnings).await;
    let history = store(f.gate, &record, &mut warnings).await;
    write_run_dir(&f, m, &verdict, &record, history.clone())?;
    if let Some(p) = report::github::step_summary_path() {
        let md = report::github::load_markdown(f.settings, m, &verdict, f.provenance);
        if let Err(e) = report::github::append_summary(&p, &md) {
            warnings.push(format!("GITHUB_STEP_SUMMARY: {e:#}"));
        }
    }
    let lines = report::console::judged_lines(
        m,
        &verdict,
        f.planned,
        history.as_ref().map(|(loc, id)| (loc.as_str(), *id)),
        f.out_dir,
    );
    sink.event(&Event::LoadJudged { lines: &lines });
    Ok(Finished { verdict, warnings })
}

/// Objectives first, then the gate against the run as measured; the
/// record then takes the final outcome.
async fn judge(f: &Finish<'_>, m: &Measurements, warnings: &mut Vec<String>) -> Judged {
    let slo_verdict = crate::verdict::judge_load(m, f.slos);
    let blocks = if f.gate.needs_blocks() {
        let hlog_path = f.out_dir.join(rundir::HLOG_FILE);
        let (blocks, unread) = rundir::blocks::blocks_from_hlog(&hlog_path, m);
        if let Some(e) = unread {
            warnings.push(format!("regression gate: {e}"));
        }
        blocks
    } else {
        Default::default()
    };
    if let Some(e) = &m.interval_log_error {
        warnings.push(e.clone());
    }
    let measured = LoadRecord::from_run(
        f.settings,
        m,
        slo_verdict.passed,
        slo_verdict.slo_lines(),
        f.provenance,
        f.env,
        blocks,
    );
    let verdict = match f.gate.judge(&measured).await {
        Ok(Some(r)) => slo_verdict.with_regression(r),
        Ok(None) => slo_verdict,
        Err(e) => {
            // The run happened: its reports are written whatever the
            // history says, and the gate says it could not judge.
            warnings.push(format!("regression gate: {e}"));
            slo_verdict.with_regression(crate::verdict::regress::Regression::first_run(
                f.gate_opts.baseline.clone(),
                format!("not compared: {e}"),
                &f.gate.boot,
            ))
        }
    };
    let record = measured.judged(
        verdict.passed,
        verdict
            .regression
            .as_ref()
            .map(|r| (r.regressed, r.regressed_labels())),
    );
    Judged { verdict, record }
}

/// The history's (location, run id) of the run, when it was recorded.
async fn store(
    gate: &Gate,
    record: &LoadRecord,
    warnings: &mut Vec<String>,
) -> Option<(String, i64)> {
    let store = gate.store.as_ref()?;
    let id = match store.insert_load(record).await {
        Ok(id) => Some((store.location().to_string(), id)),
        Err(e) => {
            warnings.push(format!("the run was not recorded in the history: {e}"));
            None
        }
    };
    store.close().await;
    id
}

/// Every file of the run directory, and the gate's `--markdown`/`--bmf`.
fn write_run_dir(
    f: &Finish<'_>,
    m: &Measurements,
    verdict: &LoadVerdict,
    record: &LoadRecord,
    history: Option<(String, i64)>,
) -> Result<(), Error> {
    let ident = rundir::RunIdentity {
        uid: record.meta.uid.clone(),
        env: f.env.map(str::to_string),
        history,
        shard: f.shard.clone(),
    };
    report::write::write_all(f.out_dir, f.settings, m, verdict, f.provenance, &ident)
        .map_err(|e| Error::internal(e.context("writing the load reports")))?;
    if let Some(sc) = &m.scrapes {
        for (file, (_, text)) in [
            (rundir::SCRAPE_BEFORE_FILE, &sc.before),
            (rundir::SCRAPE_AFTER_FILE, &sc.after),
        ] {
            report::write_file(
                &f.out_dir.join(file),
                crate::secrets::redact(text).as_bytes(),
            )
            .map_err(|e| Error::internal(e.context("writing the metrics scrapes")))?;
        }
    }
    if let Some(r) = &verdict.regression {
        super::gate::write_extras(
            r,
            record,
            f.gate_opts.judge.markdown.as_deref(),
            f.gate_opts.judge.bmf.as_deref(),
        )
        .map_err(Error::internal)?;
    }
    Ok(())
}
