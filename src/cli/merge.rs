//! `postdeploy merge --out DIR SHARD_DIR...`: refuse shards that do not fit
//! together, add the rest up ([`crate::merge`]), and judge and report the
//! whole exactly as `load` does.

use super::args::MergeArgs;
use crate::error::Error;
use crate::exit::Exit;
use crate::report;

pub async fn run(a: MergeArgs) -> Result<Exit, Error> {
    let usage = |e: crate::merge::MergeError| Error::usage(format!("{e}; nothing was merged"));
    let dirs = crate::merge::expand(&a.shards).map_err(usage)?;
    // Reading decodes every shard's histograms: off the async threads.
    let shards = tokio::task::spawn_blocking(move || crate::merge::read_all(&dirs))
        .await
        .map_err(Error::internal)?
        .map_err(usage)?;
    report::check_dir_writable(&a.out).map_err(|e| Error::usage(format!("--out: {e:#}")))?;
    for f in [&a.gate.markdown, &a.gate.bmf].into_iter().flatten() {
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
    tolerances.add_cli(&a.gate.regress).map_err(Error::Usage)?;
    let env = a.history.env.as_deref();
    let planned = crate::history::Fingerprint::of_load(&settings, env);
    let gate = super::gate::Gate::prepare(
        &a.gate,
        a.history.history.as_deref(),
        a.history.no_history,
        tolerances,
        &planned,
    )
    .await?;
    let hlog_path = a.out.join(report::load::HLOG_FILE);
    let mut hlog = report::load::hlog::HlogStream::create(&hlog_path)
        .map_err(|e| Error::usage(format!("--out: cannot create {}: {e}", hlog_path.display())))?;
    let shards = std::sync::Arc::new(shards);
    let merged = {
        let shards = shards.clone();
        tokio::task::spawn_blocking(move || {
            let m = crate::merge::merge(&shards, &mut hlog);
            drop(hlog);
            m
        })
        .await
        .map_err(Error::internal)?
        .map_err(usage)?
    };
    let provenance = shards[0].provenance.clone();
    let done = super::finish::finish(
        super::finish::Finish {
            out_dir: &a.out,
            settings: &settings,
            slos: &slos,
            gate: &gate,
            gate_args: &a.gate,
            provenance: &provenance,
            env,
            shard: None,
            planned: settings.duration,
        },
        &merged,
    )
    .await?;
    let mut err = std::io::stderr();
    for w in &done.warnings {
        use std::io::Write as _;
        let _ = writeln!(err, "warning: {}", crate::secrets::redact(w));
    }
    Ok(done.verdict.exit())
}
