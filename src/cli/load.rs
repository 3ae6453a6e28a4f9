//! `postdeploy load`: validate everything, prepare the report directory,
//! attack, judge, write the reports.

use std::io::Write as _;

use super::args::LoadArgs;
use super::setup::RunSetup;
use crate::error::Error;
use crate::exit::Exit;
use crate::http::HttpOptions;
use crate::load::shard::{self, Shard};
use crate::load::{LoadError, LoadOptions};
use crate::prepare::RequestDefaults;
use crate::report::{self, console::Console};
use crate::rundir;
use crate::scenario::ScenarioFile;

pub async fn run(a: LoadArgs) -> Result<Exit, Error> {
    // Everything is validated before the first request.
    let setup = RunSetup::new(&a.common, &a.run)?;
    let (selected, left_out) = commandless(setup.selected(&a.run)?)?;
    let slos =
        crate::verdict::slo_set(&selected, &a.slos).map_err(|e| Error::usage(e.to_string()))?;
    // A misspelt scope would otherwise be found only after the attack.
    slos.check_scopes(&crate::load::request_names(&selected))
        .map_err(Error::Usage)?;
    let mut opts = LoadOptions {
        // Replaced once the target is known.
        request: RequestDefaults {
            target: url::Url::parse("http://127.0.0.1/").map_err(Error::internal)?,
            headers: setup.headers.clone(),
            timeout: a.run.timeout,
        },
        vars: setup.vars.clone(),
        users: a.users,
        ramp: a.ramp,
        duration: a.duration,
        rate: a.rate,
        max_requests: a.max_requests,
        max_in_flight: a.max_in_flight,
        metrics_path: (!a.no_server_metrics).then(|| a.metrics_path.clone()),
        http: HttpOptions {
            insecure: a.run.insecure,
            ca_certs: setup.ca_certs.clone(),
            max_body: a.run.max_body,
            pool_max_idle: a.users.max(64) as usize,
        },
        teardown_timeout: a.run.teardown_timeout,
        target_local: setup.target.is_local(),
        start_at: a.start_at.map(|at| crate::load::shard::StartAt {
            at,
            max_skew: a.max_skew,
        }),
        keep_scrapes: false,
    };
    let shard = Shard::resolve(
        a.shard.as_deref(),
        a.shards,
        std::env::var(shard::INDEX_ENV).ok().as_deref(),
    )
    .map_err(|e| Error::usage(e.to_string()))?;
    let mut shard_ident = match shard {
        Some(sh) => Some(split_for_shard(sh, &mut opts, &a)?),
        None => None,
    };
    // A shard records every objective for `merge`, and judges itself by
    // all but the server's 5xx count, which only the whole run has.
    let slos = match &mut shard_ident {
        Some(id) => {
            id.objectives = slos.recorded();
            slos.without(crate::verdict::Metric::Server5xx)
        }
        None => slos,
    };
    opts.validate(&selected).map_err(load_error)?;
    // Created and proven writable before the attack: an unwritable
    // directory must not cost the run.
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| crate::load::out::default_dir(chrono::Utc::now()));
    report::check_dir_writable(&out_dir)
        .map_err(|e| Error::usage(format!("--out: {e:#}; nothing was sent")))?;
    for f in [&a.gate.markdown, &a.gate.bmf].into_iter().flatten() {
        report::check_writable(f)
            .map_err(|e| Error::usage(format!("{}: {e:#}; nothing was sent", f.display())))?;
    }
    // The history and an explicit baseline are checked before the attack:
    // a corrupt store or a baseline of another scenario set must not cost
    // the run.
    let env = a.history.env.as_deref();
    let tolerances = crate::app::gate::tolerances(
        &selected,
        &a.gate.regress,
        Some(&crate::load::request_names(&selected)),
    )?;
    let planned = {
        let mut s = opts.settings(&selected);
        if let crate::cli::setup::TargetChoice::Remote(u) = &setup.target {
            s.target = u.to_string();
        }
        crate::history::Fingerprint::of_load(&s, env)
    };
    // A shard is a part: the whole run is recorded and judged against its
    // baseline by `merge`.
    let gate_args = if shard.is_some() {
        crate::cli::args::GateArgs {
            baseline: "none".into(),
            ..a.gate.clone()
        }
    } else {
        a.gate.clone()
    };
    let gate_opts = crate::app::gate::GateOptions::from(&gate_args);
    let gate = crate::app::gate::Gate::prepare(
        &gate_opts,
        a.history.history.as_deref(),
        a.history.no_history || shard.is_some(),
        tolerances,
        &planned,
    )
    .await?;

    let target = setup.target.resolve().await?;
    opts.request.target = target.url().clone();
    let mut console = Console::new(super::stdout(), super::interactive())
        .with_provenance(setup.provenance.line());
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
        &mut console,
        &mut hlog,
    )
    .await;
    drop(hlog);
    let stopped = target.shutdown().await;
    if let Err(LoadError::Interrupted(sig)) = &measured {
        let _ = writeln!(
            super::stdout(),
            "INTERRUPTED by {sig} before --start-at; nothing was sent"
        );
        let _ = std::fs::remove_file(&hlog_path);
        return Ok(Exit::Interrupted(*sig));
    }
    let measurements = measured.map_err(load_error)?;
    let settings = opts.settings(&selected);
    let done = crate::app::finish::finish(
        crate::app::finish::Finish {
            out_dir: &out_dir,
            settings: &settings,
            slos: &slos,
            gate: &gate,
            gate_opts: &gate_opts,
            provenance: &setup.provenance,
            env,
            shard: shard_ident,
            planned: opts.duration,
        },
        &measurements,
        &mut console,
    )
    .await?;
    for w in &done.warnings {
        console.warning(w);
    }
    if a.out.is_none() {
        // Only now: `latest` must never point at a run without reports.
        if let Err(e) = crate::load::out::link_latest(&out_dir) {
            console.warning(&format!("{e:#}"));
        }
    }
    if let Err(e) = stopped {
        console.warning(&format!("stopping the local backend: {e:#}"));
    }
    let verdict = done.verdict;
    let mut out = super::stdout();
    if let Some(sh) = shard {
        // A shard's own SLOs are informative: the run is judged whole by
        // `merge`. Its exit says only whether this part is usable.
        if let Some(st) = measurements.start.as_ref().filter(|s| s.late) {
            let _ = writeln!(
                out,
                "LATE: shard {}/{} started {:.2} s after --start-at (more than --max-skew {:.2} s); `postdeploy merge` will refuse it",
                sh.index, sh.count, st.skew_s, st.max_skew_s
            );
            return Ok(Exit::Failed);
        }
        let _ = writeln!(
            out,
            "shard {}/{} done; judge the whole run with `postdeploy merge`",
            sh.index, sh.count
        );
        return Ok(match measurements.stopped_by.signal() {
            Some(sig) => Exit::Interrupted(sig),
            None => Exit::Passed,
        });
    }
    Ok(verdict.exit())
}

/// Replaces the whole run's users, rate and request cap by this shard's
/// share; what the whole asked for goes into the shard's report, where
/// `merge` checks every shard agrees on it.
fn split_for_shard(
    sh: Shard,
    opts: &mut LoadOptions,
    a: &LoadArgs,
) -> Result<rundir::ShardIdentity, Error> {
    let usage = |e: shard::ShardError| Error::usage(e.to_string());
    let ident = rundir::ShardIdentity {
        shard: sh,
        total_users: opts.users,
        total_rate: opts.rate,
        total_max_requests: opts.max_requests,
        metrics_path: opts.metrics_path.clone(),
        objectives: Vec::new(),
    };
    if opts.rate.is_none() {
        opts.users = sh.users(opts.users).map_err(usage)?;
    }
    opts.rate = opts.rate.map(|r| sh.rate(r)).transpose().map_err(usage)?;
    opts.max_requests = opts
        .max_requests
        .map(|m| sh.max_requests(m))
        .transpose()
        .map_err(usage)?;
    opts.keep_scrapes = true;
    if a.start_at.is_none() && sh.count > 1 {
        return Err(Error::usage(format!(
            "shard {}/{} needs --start-at TIME so that the shards run together; nothing was sent",
            sh.index, sh.count
        )));
    }
    Ok(ident)
}

fn load_error(e: LoadError) -> Error {
    match e {
        LoadError::Invalid(m) => Error::Usage(m),
        LoadError::Internal(m) => Error::internal(anyhow::anyhow!(m)),
        LoadError::Interrupted(sig) => Error::usage(format!("interrupted by {sig}")),
    }
}

/// `load` sends requests; command steps (log reviews) run in `verify` only.
/// A scenario of nothing but commands is left out; one mixing requests and
/// commands is refused, since its flow cannot be loaded without them.
/// Returns the scenarios to load and the names of those left out.
fn commandless(selected: Vec<&ScenarioFile>) -> Result<(Vec<&ScenarioFile>, Vec<String>), Error> {
    // (steps with a command, steps in all), teardown included.
    let commands = |l: &ScenarioFile| {
        let steps = || l.scenario.steps.iter().chain(&l.scenario.teardown);
        let n = steps().filter(|s| s.value.command.is_some()).count();
        (n, steps().count())
    };
    let has_command = |l: &ScenarioFile| commands(l).0 > 0;
    let only_commands = |l: &ScenarioFile| {
        let (n, all) = commands(l);
        n == all
    };
    let mixed: Vec<String> = selected
        .iter()
        .filter(|l| has_command(l) && !only_commands(l))
        .map(|l| format!("{} ({})", l.scenario.name, l.path.display()))
        .collect();
    if !mixed.is_empty() {
        return Err(Error::usage(format!(
            "`load` does not run command steps, and these scenarios mix them with requests: {}; run them with `verify`, or skip them with --skip-tag; nothing was sent",
            mixed.join(", ")
        )));
    }
    let (left_out, kept): (Vec<&ScenarioFile>, Vec<&ScenarioFile>) =
        selected.into_iter().partition(|l| has_command(l));
    if kept.is_empty() {
        return Err(Error::usage(
            "`load` does not run command steps, and every selected scenario is made of them; nothing was sent",
        ));
    }
    Ok((
        kept,
        left_out.iter().map(|l| l.scenario.name.clone()).collect(),
    ))
}
