//! Reports of a load run, written into one output directory:
//!
//! - `summary.json`: the versioned machine-readable record
//!   (`schemas/report.schema.json`), with every histogram embedded;
//! - `latency.hlog`: HdrHistogram interval log, one histogram per second and
//!   request name, streamed into the directory while the run goes
//!   ([`crate::rundir::hlog::HlogStream`]) rather than written here;
//! - `<name>.hgrm` (and `all.hgrm`): percentile distributions for the
//!   HdrHistogram plotter;
//! - `junit.xml`: one test case per SLO and error budget
//!   ([`crate::report::junit::load`]);
//! - `report.html`: a self-contained page for people.
//!
//! The verdict is decided before any of them is written
//! ([`crate::verdict`]); every file shows the same one.

use std::path::{Path, PathBuf};

use crate::measure::{Measurements, Settings};
use crate::provenance::Provenance;
use crate::report::{hgrm, html, summary, write_file, write_redacted};
use crate::rundir::{ALL_STEM, HLOG_FILE, HTML_FILE, JUNIT_FILE, Names, RunIdentity, SUMMARY_FILE};
use crate::verdict::LoadVerdict;

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
    // (`crate::rundir::hlog::HlogStream`); it is listed, not written, here.
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

    let summary = summary::summary(settings, m, verdict, prov, ident).to_json(|v| {
        crate::secrets::global().redact_json(v, &["histogram"]);
    })?;
    put_as(SUMMARY_FILE, &summary, true)?;
    let mut put = |name: &str, bytes: &[u8]| put_as(name, bytes, false);
    let all = m.all();
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
        crate::report::junit::load::render(
            settings,
            m,
            results,
            verdict.regression.as_ref(),
            prov,
        )?
        .as_bytes(),
    )?;
    let mut listed: Vec<String> = vec![SUMMARY_FILE.into(), HLOG_FILE.into(), JUNIT_FILE.into()];
    listed.push(format!("{ALL_STEM}.hgrm"));
    listed.extend(m.requests.keys().map(|n| format!("{}.hgrm", names.stem(n))));
    put(
        HTML_FILE,
        html::load::render(settings, m, verdict, prov, &listed)?.as_bytes(),
    )?;
    Ok(files)
}
