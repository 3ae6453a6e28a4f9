//! `load` once its flags are checked: prepare the gate (before anything is
//! sent, so a corrupt store or an unlike baseline costs nothing), start or
//! name the target, attack while streaming the interval log, then finish
//! the run ([`super::finish`]).

use std::io::Write;
use std::path::PathBuf;

use super::gate::{Gate, GateOptions};
use crate::error::Error;
use crate::exit::Exit;
use crate::load::shard::Shard;
use crate::load::{LoadError, LoadOptions};
use crate::provenance::Provenance;
use crate::record::Fingerprint;
use crate::report::console::Console;
use crate::rundir;
use crate::scenario::ScenarioFile;
use crate::target::Target;
use crate::verdict::SloSet;
use crate::verdict::regress::tolerance::Tolerances;

/// A load run, decided: everything the flags say, checked.
pub struct LoadPlan<'a> {
    pub selected: Vec<&'a ScenarioFile>,
    /// Scenarios left out (command steps only), to be said once the run
    /// starts.
    pub left_out: Vec<String>,
    pub opts: LoadOptions,
    pub slos: SloSet,
    /// This run is one shard of a larger one.
    pub shard: Option<(Shard, rundir::ShardIdentity)>,
    pub out_dir: PathBuf,
    /// No `--out`: `latest` is pointed at the run once its reports exist.
    pub link_latest: bool,
    /// None: the in-repo backend, started for the run.
    pub remote: Option<url::Url>,
    pub gate: GateOptions,
    pub tolerances: Tolerances,
    /// Where the run history lives (`--history`); `no_history` wins.
    pub history: Option<String>,
    pub no_history: bool,
    pub env: Option<String>,
    pub provenance: Provenance,
}

pub async fn run<W: Write>(p: LoadPlan<'_>, console: &mut Console<W>) -> Result<Exit, Error> {
    let LoadPlan {
        selected,
        left_out,
        mut opts,
        slos,
        shard,
        out_dir,
        link_latest,
        remote,
        gate,
        tolerances,
        history,
        no_history,
        env,
        provenance,
    } = p;
    let env = env.as_deref();
    let planned = {
        let mut s = opts.settings(&selected);
        if let Some(u) = &remote {
            s.target = u.to_string();
        }
        Fingerprint::of_load(&s, env)
    };
    // A shard is a part: the whole run is recorded and judged against its
    // baseline by `merge`.
    let gate_opts = if shard.is_some() {
        GateOptions {
            baseline: "none".into(),
            ..gate
        }
    } else {
        gate
    };
    let gate = Gate::prepare(
        &gate_opts,
        history.as_deref(),
        no_history || shard.is_some(),
        tolerances,
        &planned,
    )
    .await?;

    let target = Target::resolve(remote.as_ref().map(url::Url::as_str))
        .await
        .map_err(Error::Internal)?;
    opts.request.target = target.url().clone();
    for name in &left_out {
        console.warning(&format!(
            "scenario `{name}` is left out: its command steps run in `verify` only"
        ));
    }
    // Streamed as the run goes: memory stays flat over any duration.
    let hlog_path = out_dir.join(rundir::HLOG_FILE);
    let mut hlog = rundir::hlog::HlogStream::create(&hlog_path).map_err(|e| {
        Error::usage(format!(
            "--out: cannot create {}: {e}; nothing was sent",
            hlog_path.display()
        ))
    })?;
    let measured = crate::load::run(
        &selected,
        &opts,
        crate::signals::stop_requested(),
        crate::signals::abandon(opts.teardown_timeout),
        console,
        &mut hlog,
    )
    .await;
    drop(hlog);
    let stopped = target.shutdown().await;
    let measurements = match measured {
        Ok(m) => m,
        Err(LoadError::Interrupted(sig)) => {
            console.print(&format!(
                "INTERRUPTED by {sig} before --start-at; nothing was sent"
            ));
            let _ = std::fs::remove_file(&hlog_path);
            return Ok(Exit::Interrupted(sig));
        }
        Err(e) => return Err(load_error(e)),
    };
    let settings = opts.settings(&selected);
    let done = super::finish::finish(
        super::finish::Finish {
            out_dir: &out_dir,
            settings: &settings,
            slos: &slos,
            gate: &gate,
            gate_opts: &gate_opts,
            provenance: &provenance,
            env,
            shard: shard.as_ref().map(|(_, ident)| ident.clone()),
            planned: opts.duration,
        },
        &measurements,
        console,
    )
    .await?;
    for w in &done.warnings {
        console.warning(w);
    }
    if link_latest {
        // Only now: `latest` must never point at a run without reports.
        if let Err(e) = crate::load::out::link_latest(&out_dir) {
            console.warning(&format!("{e:#}"));
        }
    }
    if let Err(e) = stopped {
        console.warning(&format!("stopping the local backend: {e:#}"));
    }
    let Some((sh, _)) = shard else {
        return Ok(done.verdict.exit());
    };
    // A shard's own SLOs are informative: the run is judged whole by
    // `merge`. Its exit says only whether this part is usable.
    if let Some(st) = measurements.start.as_ref().filter(|s| s.late) {
        console.print(&format!(
            "LATE: shard {}/{} started {:.2} s after --start-at (more than --max-skew {:.2} s); `postdeploy merge` will refuse it",
            sh.index, sh.count, st.skew_s, st.max_skew_s
        ));
        return Ok(Exit::Failed);
    }
    console.print(&format!(
        "shard {}/{} done; judge the whole run with `postdeploy merge`",
        sh.index, sh.count
    ));
    Ok(match measurements.stopped_by.signal() {
        Some(sig) => Exit::Interrupted(sig),
        None => Exit::Passed,
    })
}

/// A run the attack refused is the user's to fix; one it could not make is
/// ours. An interruption is an exit, not an error: the caller handles it.
pub fn load_error(e: LoadError) -> Error {
    match e {
        LoadError::Invalid(m) => Error::Usage(m),
        LoadError::Internal(m) => Error::internal(anyhow::anyhow!(m)),
        LoadError::Interrupted(sig) => Error::usage(format!("interrupted by {sig}")),
    }
}
