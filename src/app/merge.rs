//! `postdeploy merge --out DIR SHARD_DIR...`: refuse shards that do not fit
//! together, add the rest up ([`crate::merge`]), and judge and report the
//! whole exactly as `load` does.

use std::io::Write;
use std::path::PathBuf;

use super::gate::GateOptions;
use crate::error::Error;
use crate::event::Sink;
use crate::exit::Exit;
use crate::report;
use crate::rundir;

/// A signal stops a merge before its reports are written, and the merge
/// leaves nothing half-written behind: a partial `latency.hlog` beside no
/// `summary.json` would look like a run. Once the reports are being
/// written (well under a second), they are finished first.
/// What `merge` is asked, as the CLI's flags give it.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Shard directories, summary.json files or glob patterns.
    pub shards: Vec<String>,
    pub out: PathBuf,
    /// Extra objectives on top of those the shards recorded.
    pub slos: Vec<String>,
    pub history: Option<String>,
    pub no_history: bool,
    pub env: Option<String>,
    pub gate: GateOptions,
}

/// `sink` hears the judged run; `err` gets warnings and a stop.
pub async fn run(
    a: &MergeOptions,
    sink: &mut dyn Sink,
    err: &mut dyn Write,
) -> Result<Exit, Error> {
    let usage = |e: crate::merge::MergeError| Error::usage(format!("{e}; nothing was merged"));
    let out_existed = a.out.exists();
    let mut stopped = |created: Option<&std::path::Path>| -> Option<Exit> {
        let sig = crate::signals::first()?;
        if let Some(p) = created {
            let _ = std::fs::remove_file(p);
        }
        if !out_existed {
            // Only if empty: never anything that was there before.
            let _ = std::fs::remove_dir(&a.out);
        }
        let _ = writeln!(
            err,
            "merge stopped by {sig}: nothing was written to {}",
            crate::secrets::redact(&a.out.display().to_string())
        );
        Some(Exit::Interrupted(sig))
    };
    let dirs = crate::merge::expand(&a.shards).map_err(usage)?;
    // Reading decodes every shard's histograms: off the async threads.
    let shards = tokio::task::spawn_blocking(move || crate::merge::read_all(&dirs))
        .await
        .map_err(Error::internal)?
        .map_err(usage)?;
    if let Some(exit) = stopped(None) {
        return Ok(exit);
    }
    report::check_dir_writable(&a.out).map_err(|e| Error::usage(format!("--out: {e:#}")))?;
    for f in [&a.gate.judge.markdown, &a.gate.judge.bmf]
        .into_iter()
        .flatten()
    {
        report::check_writable(f).map_err(|e| Error::usage(format!("{}: {e:#}", f.display())))?;
    }
    let settings = crate::merge::settings(&shards);
    let names: std::collections::BTreeSet<String> = shards
        .iter()
        .flat_map(|s| s.requests.keys().cloned())
        .collect();
    let mut slos = crate::merge::recorded_slos(&shards);
    slos.add_cli(&a.slos)
        .map_err(|e| Error::usage(e.to_string()))?;
    slos.check_scopes(&names).map_err(Error::Usage)?;
    let mut tolerances = crate::verdict::regress::tolerance::Tolerances::default();
    tolerances
        .add_scenario("the shards' scenarios", &settings.regress)
        .map_err(Error::Usage)?;
    tolerances
        .add_cli(&a.gate.judge.regress)
        .map_err(Error::Usage)?;
    let env = a.env.as_deref();
    let planned = crate::history::Fingerprint::of_load(&settings, env);
    let gate = super::gate::Gate::prepare(
        &a.gate,
        a.history.as_deref(),
        a.no_history,
        tolerances,
        &planned,
    )
    .await?;
    let hlog_path = a.out.join(rundir::HLOG_FILE);
    let mut hlog = rundir::hlog::HlogStream::create(&hlog_path)
        .map_err(|e| Error::usage(format!("--out: cannot create {}: {e}", hlog_path.display())))?;
    let shards = std::sync::Arc::new(shards);
    let merged = {
        let shards = shards.clone();
        tokio::task::spawn_blocking(move || {
            let m = crate::merge::merge(&shards, &mut hlog, &|| crate::signals::first().is_some());
            drop(hlog);
            m
        })
        .await
        .map_err(Error::internal)?
    };
    if let Some(exit) = stopped(Some(&hlog_path)) {
        return Ok(exit);
    }
    let merged = merged.map_err(usage)?;
    let provenance = shards[0].provenance.clone();
    let done = super::finish::finish(
        super::finish::Finish {
            out_dir: &a.out,
            settings: &settings,
            slos: &slos,
            gate: &gate,
            gate_opts: &a.gate,
            provenance: &provenance,
            env,
            shard: None,
            planned: settings.duration,
        },
        &merged,
        sink,
    )
    .await?;
    for w in &done.warnings {
        let _ = writeln!(err, "warning: {}", crate::secrets::redact(w));
    }
    // A signal that came while the reports were written: they are whole,
    // and the exit status still says the merge was interrupted.
    Ok(crate::signals::first().map_or(done.verdict.exit(), Exit::Interrupted))
}
