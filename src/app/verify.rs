//! The end of a verify run, in one direction: judge the report, write the
//! JUnit and JSON files, then the GitHub outputs, then the history. What
//! the user must be told comes back as data; the CLI prints it.

use std::path::PathBuf;

use crate::error::Error;
use crate::exit::Exit;
use crate::history::{Store, VerifyRecord};
use crate::outcome::RunReport;
use crate::report;
use crate::scenario::ScenarioFile;

/// Where a verify run's files go.
pub struct Outputs {
    pub junit: PathBuf,
    pub json: Option<PathBuf>,
}

pub struct Verified {
    pub exit: Exit,
    /// GitHub workflow commands (annotations) for stdout, in Actions only.
    pub annotations: Vec<String>,
    /// Where the history recorded the run, (location, run id), or why it
    /// could not; None without a history.
    pub history: Option<Result<(String, i64), String>>,
    /// Outputs beside the reports that failed (the job summary).
    pub warnings: Vec<String>,
    /// A report file that could not be written: the run is lost twice if
    /// this is not said, so the CLI fails with it after everything else.
    pub unwritten: Option<anyhow::Error>,
}

pub async fn finish(
    report: &RunReport,
    selected: &[&ScenarioFile],
    out: &Outputs,
    store: Option<Store>,
    env: Option<&str>,
) -> Verified {
    let exit = crate::verdict::judge_verify(report);
    let mut warnings = Vec::new();
    // Each report is attempted even when another fails: losing the JSON
    // because the JUnit path broke would lose the run twice.
    let junit = report::junit::verify::render(report)
        .and_then(|x| report::write_file(&out.junit, x.as_bytes()))
        .map_err(|e| e.context("JUnit report"));
    let json = match &out.json {
        None => Ok(()),
        Some(p) => serde_json::to_value(report)
            .map_err(anyhow::Error::from)
            .and_then(|mut v| {
                crate::secrets::global().redact_json(&mut v, &[]);
                Ok(serde_json::to_vec_pretty(&v)?)
            })
            .and_then(|bytes| report::write_redacted(p, &bytes))
            .map_err(|e| e.context("JSON report")),
    };
    let annotations = if report::github::in_actions() {
        report::github::verify_annotations(report, selected)
    } else {
        Vec::new()
    };
    // The job summary is a courtesy beside the reports: a failure to
    // append is a warning, not the verdict.
    if let Some(p) = report::github::step_summary_path() {
        if let Err(e) = report::github::append_summary(&p, &report::github::verify_markdown(report))
        {
            warnings.push(format!("GITHUB_STEP_SUMMARY: {e:#}"));
        }
    }
    let mut history = None;
    if let Some(store) = store {
        let record = VerifyRecord::from_report(report, env);
        history = Some(
            store
                .insert_verify(&record)
                .await
                .map(|id| (store.location().to_string(), id))
                .map_err(|e| format!("the run was not recorded in the history: {e}")),
        );
        store.close().await;
    }
    Verified {
        exit,
        annotations,
        history,
        warnings,
        unwritten: junit.and(json).err(),
    }
}

impl Verified {
    /// The run's exit, or the error of a report that could not be written.
    pub fn into_result(self) -> Result<Exit, Error> {
        match self.unwritten {
            Some(e) => Err(Error::Internal(e)),
            None => Ok(self.exit),
        }
    }
}
