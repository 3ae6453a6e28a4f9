//! `postdeploy compare BASE CURRENT`: the regression gate on two finished
//! runs, stored or on disk, with no target contacted. Same verdicts and
//! outputs as the gate inside `load`.

use std::path::PathBuf;

use super::gate::{JudgeOptions, history_error, refuse_unlike};
use crate::error::Error;
use crate::exit::Exit;
use crate::history::{self, LoadRecord, Store};
use crate::report;
use crate::verdict::regress::gate;
use crate::verdict::regress::stats::Bootstrap;

/// What `compare` is asked, as the CLI's flags give it.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// A stored run id, a report directory or a summary.json.
    pub base: String,
    pub current: String,
    /// The history store holding run ids (`--history`).
    pub history: Option<String>,
    pub judge: JudgeOptions,
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
}

/// Compares, writes every output asked for, and says the verdict on `out`
/// (the console is the caller's).
pub async fn run(a: &CompareOptions, out: &mut dyn std::io::Write) -> Result<Exit, Error> {
    for f in [&a.judge.markdown, &a.judge.bmf, &a.junit, &a.json]
        .into_iter()
        .flatten()
    {
        report::check_writable(f).map_err(|e| Error::usage(format!("{}: {e:#}", f.display())))?;
    }
    // Checked before anything is read.
    super::gate::tolerances(&[], &a.judge.regress, None)?;
    let mut store: Option<Store> = None;
    // Report directories are read side by side: an hour-long interval log
    // takes a second or two to read.
    let (base, current) = match (is_id(&a.base), is_id(&a.current)) {
        (false, false) => {
            let (b, c) = (a.base.clone(), a.current.clone());
            let read = |p: String| {
                tokio::task::spawn_blocking(move || {
                    history::files::read_run(std::path::Path::new(p.trim()))
                })
            };
            let (rb, rc) = tokio::join!(read(b), read(c));
            (
                rb.map_err(Error::internal)?.map_err(Error::Usage)?,
                rc.map_err(Error::internal)?.map_err(Error::Usage)?,
            )
        }
        _ => (
            resolve(&a.base, a.history.as_deref(), &mut store).await?,
            resolve(&a.current, a.history.as_deref(), &mut store).await?,
        ),
    };
    if let Some(s) = &store {
        s.close().await;
    }
    refuse_unlike(
        &base.fingerprint,
        &current.fingerprint,
        &a.base,
        a.judge.force_compare,
    )?;
    // The current run's own scenario tolerances, as its gate used them;
    // `--regress` overrides.
    let mut tolerances = crate::verdict::regress::tolerance::Tolerances::default();
    tolerances
        .add_scenario("the current run's scenarios", &current.regress)
        .map_err(Error::Usage)?;
    tolerances.add_cli(&a.judge.regress).map_err(Error::Usage)?;
    let mut r = gate::judge(
        std::slice::from_ref(&base),
        &current,
        &tolerances,
        &Bootstrap::default(),
        describe(&a.base, &base),
    );
    r.warn_only = a.judge.regress_warn;
    let _ = writeln!(
        out,
        "compare {} → {} ({})",
        describe(&a.base, &base),
        describe(&a.current, &current),
        current.fingerprint.describe()
    );
    for line in report::regress::console_lines(&r) {
        let _ = writeln!(out, "  {line}");
    }
    super::gate::write_extras(
        &r,
        &current,
        a.judge.markdown.as_deref(),
        a.judge.bmf.as_deref(),
    )
    .map_err(Error::internal)?;
    if let Some(p) = &a.junit {
        let mut rep = report::junit::Junit::new("postdeploy compare");
        rep.add_suite(report::junit::regress::suite(&r));
        let xml = rep.render().map_err(Error::internal)?;
        report::write_file(p, xml.as_bytes()).map_err(Error::internal)?;
    }
    if let Some(p) = &a.json {
        let mut v = serde_json::json!({
            "format": "postdeploy.compare/v1",
            "base": describe(&a.base, &base),
            "current": describe(&a.current, &current),
            "regression": r,
            "passed": !r.fails(),
        });
        crate::secrets::global().redact_json(&mut v, &[]);
        report::write_redacted(p, &serde_json::to_vec_pretty(&v).map_err(Error::internal)?)
            .map_err(Error::internal)?;
    }
    if let Some(p) = report::github::step_summary_path() {
        if let Err(e) = report::github::append_summary(&p, &report::regress::markdown(&r)) {
            let _ = writeln!(out, "warning: GITHUB_STEP_SUMMARY: {e:#}");
        }
    }
    Ok(if r.fails() {
        Exit::Failed
    } else {
        Exit::Passed
    })
}

/// A run id (from the store) or a report directory / summary.json.
async fn resolve(
    arg: &str,
    history_flag: Option<&str>,
    store: &mut Option<Store>,
) -> Result<LoadRecord, Error> {
    let t = arg.trim();
    if is_id(t) {
        let id: i64 = t
            .parse()
            .map_err(|_| Error::usage(format!("{t}: not a run id")))?;
        if store.is_none() {
            *store = Some(
                Store::open(&history::location(history_flag))
                    .await
                    .map_err(history_error)?,
            );
        }
        let s = store
            .as_ref()
            .ok_or_else(|| Error::usage("no history store"))?;
        return s.load_run(id).await.map_err(history_error);
    }
    history::files::read_run(std::path::Path::new(t)).map_err(Error::Usage)
}

/// All digits, and no file of that name: a run id.
fn is_id(arg: &str) -> bool {
    let t = arg.trim();
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && !std::path::Path::new(t).exists()
}

fn describe(arg: &str, r: &LoadRecord) -> String {
    match r.meta.id {
        Some(id) => format!("run #{id} ({})", r.meta.label()),
        None => format!("{arg} ({})", r.meta.label()),
    }
}
