//! `postdeploy load`: validate everything, prepare the report directory,
//! attack, judge, write the reports.

use super::args::LoadArgs;
use super::setup::RunSetup;
use crate::error::Error;
use crate::exit::Exit;
use crate::http::HttpOptions;
use crate::load::LoadOptions;
use crate::load::shard::{self, Shard};
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
    opts.validate(&selected)
        .map_err(crate::app::load::load_error)?;
    // Created and proven writable before the attack: an unwritable
    // directory must not cost the run.
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| crate::load::out::default_dir(chrono::Utc::now()));
    report::check_dir_writable(&out_dir)
        .map_err(|e| Error::usage(format!("--out: {e:#}; nothing was sent")))?;
    for f in [&a.gate.judge.markdown, &a.gate.judge.bmf]
        .into_iter()
        .flatten()
    {
        report::check_writable(f)
            .map_err(|e| Error::usage(format!("{}: {e:#}; nothing was sent", f.display())))?;
    }
    // The history and an explicit baseline are checked before the attack:
    // a corrupt store or a baseline of another scenario set must not cost
    // the run.
    let tolerances = crate::app::gate::tolerances(
        &selected,
        &a.gate.judge.regress,
        Some(&crate::load::request_names(&selected)),
    )?;
    let mut console = Console::new(super::stdout(), super::interactive())
        .with_provenance(setup.provenance.line());
    let plan = crate::app::load::LoadPlan {
        selected,
        left_out,
        opts,
        slos,
        shard: shard.zip(shard_ident),
        out_dir,
        link_latest: a.out.is_none(),
        remote: match &setup.target {
            super::setup::TargetChoice::Remote(u) => Some(u.clone()),
            super::setup::TargetChoice::Local => None,
        },
        gate: (&a.gate).into(),
        tolerances,
        history: a.history.history.clone(),
        no_history: a.history.no_history,
        env: a.history.env.clone(),
        provenance: setup.provenance.clone(),
    };
    crate::app::load::run(plan, &mut console).await
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
