//! `postdeploy load`: validate everything, prepare the report directory,
//! attack, judge, write the reports.

use std::io::Write as _;

use super::args::LoadArgs;
use super::setup::RunSetup;
use crate::error::Error;
use crate::exit::Exit;
use crate::http::HttpOptions;
use crate::load::{LoadError, LoadOptions};
use crate::prepare::RequestDefaults;
use crate::report::{self, console::Console};
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
            max_body: a.run.max_body,
            pool_max_idle: a.users.max(64) as usize,
        },
        teardown_timeout: a.run.teardown_timeout,
        target_local: setup.target.is_local(),
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
    let tolerances = super::gate::tolerances(
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
    let gate = super::gate::Gate::prepare(
        &a.gate,
        a.history.history.as_deref(),
        a.history.no_history,
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
    let measured = crate::load::run(
        &selected,
        &opts,
        crate::signals::stop_requested(),
        crate::signals::abandon(opts.teardown_timeout),
        &mut console,
    )
    .await;
    let stopped = target.shutdown().await;
    let measurements = measured.map_err(load_error)?;
    let verdict = crate::verdict::judge_load(&measurements, &slos);
    let settings = opts.settings(&selected);
    let mut record = crate::history::LoadRecord::from_run(
        &settings,
        &measurements,
        &verdict,
        &setup.provenance,
        env,
    );
    let verdict = match gate.judge(&record).await {
        Ok(Some(r)) => verdict.with_regression(r),
        Ok(None) => verdict,
        Err(e) => {
            // The run happened: its reports are written whatever the
            // history says, and the gate says it could not judge.
            console.warning(&format!("regression gate: {e}"));
            verdict.with_regression(crate::verdict::regress::Regression::first_run(
                a.gate.baseline.clone(),
                format!("not compared: {e}"),
                &gate.boot,
            ))
        }
    };
    record.meta.passed = verdict.passed;
    if let Some(r) = &verdict.regression {
        record.meta.regressed = r.regressed;
        record.meta.regressions = r.regressed_labels();
    }
    let mut ident = report::load::RunIdentity {
        uid: record.meta.uid.clone(),
        env: env.map(str::to_string),
        history: None,
    };
    if let Some(store) = &gate.store {
        match store.insert_load(&record).await {
            Ok(id) => ident.history = Some((store.location().to_string(), id)),
            Err(e) => console.warning(&format!("the run was not recorded in the history: {e}")),
        }
        store.close().await;
    }
    report::load::write_all(
        &out_dir,
        &settings,
        &measurements,
        &verdict,
        &setup.provenance,
        &ident,
    )
    .map_err(|e| Error::internal(e.context("writing the load reports")))?;
    if let Some(r) = &verdict.regression {
        super::gate::write_extras(
            r,
            &record,
            a.gate.markdown.as_deref(),
            a.gate.bmf.as_deref(),
        )
        .map_err(Error::internal)?;
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
    if let Some(p) = report::github::step_summary_path() {
        let md =
            report::github::load_markdown(&settings, &measurements, &verdict, &setup.provenance);
        if let Err(e) = report::github::append_summary(&p, &md) {
            console.warning(&format!("GITHUB_STEP_SUMMARY: {e:#}"));
        }
    }
    let mut out = super::stdout();
    if let Some(s) = &measurements.schedule {
        let _ = writeln!(out, "  {}", report::load::schedule::console_line(s));
    }
    for r in &verdict.slo_results {
        let mark = if r.passed { "ok      " } else { "BREACHED" };
        let _ = writeln!(out, "  SLO {mark} {}", r.message);
    }
    if let Some(sig) = measurements.stopped_by.signal() {
        let _ = writeln!(
            out,
            "INTERRUPTED by {sig}: the run covered {:.1} s of {:.1} s and cannot pass{}",
            measurements.elapsed.as_secs_f64(),
            opts.duration.as_secs_f64(),
            if measurements.teardown_abandoned {
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
    let _ = writeln!(out, "reports: {}", out_dir.display());
    Ok(verdict.exit())
}

fn load_error(e: LoadError) -> Error {
    match e {
        LoadError::Invalid(m) => Error::Usage(m),
        LoadError::Internal(m) => Error::internal(anyhow::anyhow!(m)),
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
