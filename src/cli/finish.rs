//! The end of a load run, and of a merge: judge the measurements, gate them
//! against the history, record them, write every report, and tell the
//! user. One path for both, so a merged run is judged exactly as a run on
//! one machine would be.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use super::args::GateArgs;
use super::gate::Gate;
use crate::error::Error;
use crate::measure::{Measurements, Settings};
use crate::provenance::Provenance;
use crate::report;
use crate::rundir;
use crate::verdict::{LoadVerdict, SloSet};

pub struct Finish<'a> {
    pub out_dir: &'a Path,
    pub settings: &'a Settings,
    pub slos: &'a SloSet,
    pub gate: &'a Gate,
    pub gate_args: &'a GateArgs,
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

/// Judges `m` and writes its reports into `f.out_dir`, where its interval
/// log was already streamed.
pub async fn finish(f: Finish<'_>, m: &Measurements) -> Result<Finished, Error> {
    let mut warnings = Vec::new();
    let verdict = crate::verdict::judge_load(m, f.slos);
    let blocks = if f.gate.needs_blocks() {
        let hlog_path = f.out_dir.join(rundir::HLOG_FILE);
        let (blocks, unread) = crate::rundir::blocks::blocks_from_hlog(&hlog_path, m);
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
    let mut record = crate::record::LoadRecord::from_run(
        f.settings,
        m,
        verdict.passed,
        verdict.slo_lines(),
        f.provenance,
        f.env,
        blocks,
    );
    let verdict = match f.gate.judge(&record).await {
        Ok(Some(r)) => verdict.with_regression(r),
        Ok(None) => verdict,
        Err(e) => {
            // The run happened: its reports are written whatever the
            // history says, and the gate says it could not judge.
            warnings.push(format!("regression gate: {e}"));
            verdict.with_regression(crate::verdict::regress::Regression::first_run(
                f.gate_args.baseline.clone(),
                format!("not compared: {e}"),
                &f.gate.boot,
            ))
        }
    };
    record.meta.passed = verdict.passed;
    if let Some(r) = &verdict.regression {
        record.meta.regressed = r.regressed;
        record.meta.regressions = r.regressed_labels();
    }
    let mut ident = rundir::RunIdentity {
        uid: record.meta.uid.clone(),
        env: f.env.map(str::to_string),
        history: None,
        shard: f.shard,
    };
    if let Some(store) = &f.gate.store {
        match store.insert_load(&record).await {
            Ok(id) => ident.history = Some((store.location().to_string(), id)),
            Err(e) => warnings.push(format!("the run was not recorded in the history: {e}")),
        }
        store.close().await;
    }
    report::load::write_all(f.out_dir, f.settings, m, &verdict, f.provenance, &ident)
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
            &record,
            f.gate_args.markdown.as_deref(),
            f.gate_args.bmf.as_deref(),
        )
        .map_err(Error::internal)?;
    }
    if let Some(p) = report::github::step_summary_path() {
        let md = report::github::load_markdown(f.settings, m, &verdict, f.provenance);
        if let Err(e) = report::github::append_summary(&p, &md) {
            warnings.push(format!("GITHUB_STEP_SUMMARY: {e:#}"));
        }
    }
    let mut out = super::stdout();
    for s in &m.shards {
        let _ = writeln!(
            out,
            "  shard {:>3}: {} requests ({} failed), {:.1}/s of {:.1}/s, p50 {}{}",
            s.index,
            s.requests,
            s.failed,
            s.achieved_rps,
            s.expected_rps,
            s.p50_ms.map_or("-".into(), |p| format!("{p:.3} ms")),
            if s.flags.is_empty() {
                String::new()
            } else {
                format!("  SATURATED? {}", s.flags.join("; "))
            }
        );
    }
    if let Some(s) = &m.schedule {
        let _ = writeln!(out, "  {}", report::load::schedule::console_line(s));
    }
    for r in &verdict.slo_results {
        let mark = if r.passed { "ok      " } else { "BREACHED" };
        let _ = writeln!(out, "  SLO {mark} {}", r.message);
    }
    if let Some(sig) = m.stopped_by.signal() {
        let _ = writeln!(
            out,
            "INTERRUPTED by {sig}: the run covered {:.1} s of {:.1} s and cannot pass{}",
            m.elapsed.as_secs_f64(),
            f.planned.as_secs_f64(),
            if m.teardown_abandoned {
                "; the teardown was abandoned"
            } else {
                ""
            }
        );
    }
    if let Some(r) = &verdict.regression {
        for line in report::regress::console_lines(r) {
            let _ = writeln!(out, "  {line}");
        }
    }
    if let Some((loc, id)) = &ident.history {
        let _ = writeln!(out, "history: run #{id} in {loc}");
    }
    let _ = writeln!(out, "reports: {}", f.out_dir.display());
    Ok(Finished { verdict, warnings })
}
