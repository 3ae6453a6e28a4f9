//! `postdeploy verify`: the gate, run once (or as a soak).

use std::io::Write as _;

use super::args::VerifyArgs;
use super::setup::RunSetup;
use crate::error::Error;
use crate::exit::Exit;
use crate::http::{Client, HttpOptions};
use crate::prepare::RequestDefaults;
use crate::report::{self, console::Console};
use crate::verify::{self, VerifyOptions};

pub async fn run(a: VerifyArgs) -> Result<Exit, Error> {
    // Everything is validated before the first request.
    let setup = RunSetup::new(&a.common, &a.run)?;
    let selected = setup.selected(&a.run)?;
    if a.wait_ready.is_some() && verify::find_readiness_step(&selected).is_none() {
        return Err(Error::usage(
            "--wait-ready needs a readiness step: mark one with `readiness: true`",
        ));
    }
    // A report path that cannot be written would lose the whole run.
    for p in std::iter::once(&a.junit).chain(a.json.iter()) {
        report::check_writable(p)
            .map_err(|e| Error::usage(format!("{}: {e:#}; nothing was sent", p.display())))?;
    }
    // A corrupt or newer history store is found before anything is sent.
    let store = if a.history.no_history {
        None
    } else {
        Some(
            crate::history::Store::open(&crate::history::location(a.history.history.as_deref()))
                .await
                .map_err(crate::app::gate::history_error)?,
        )
    };
    let client = Client::new(&HttpOptions {
        insecure: a.run.insecure,
        ca_certs: setup.ca_certs.clone(),
        max_body: a.run.max_body,
        ..HttpOptions::default()
    })
    .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    let target = setup.target.resolve().await?;
    let opts = VerifyOptions {
        request: RequestDefaults {
            target: target.url().clone(),
            headers: setup.headers.clone(),
            timeout: a.run.timeout,
        },
        vars: {
            let mut v = setup.vars.clone();
            if let Some(log) = target.log_file() {
                v.entry(crate::scenario::LOCAL_LOG.to_string())
                    .or_insert_with(|| log.display().to_string());
            }
            v
        },
        skip_tags: a.run.skip_tags.clone(),
        fail_fast: a.fail_fast,
        wait_ready: a.wait_ready,
        ready_successes: a.ready_successes,
        soak: a.soak,
        teardown_timeout: a.run.teardown_timeout,
        target_local: setup.target.is_local(),
        provenance: setup.provenance.clone(),
    };
    let mut console = Console::new(super::stdout(), super::interactive())
        .with_provenance(setup.provenance.line());
    let report = verify::run(&selected, &client, &opts, &mut console).await;
    // The local backend is stopped whatever happens next; a failure to stop
    // it is worth a line, not the verdict.
    let stopped = target.shutdown().await;
    let outputs = crate::app::verify::Outputs {
        junit: a.junit.clone(),
        json: a.json.clone(),
    };
    let done = crate::app::verify::finish(
        &report,
        &selected,
        &outputs,
        store,
        a.history.env.as_deref(),
    )
    .await;
    let mut out = super::stdout();
    for line in &done.annotations {
        let _ = writeln!(out, "{line}");
    }
    for w in &done.warnings {
        console.warning(w);
    }
    if let Err(e) = stopped {
        console.warning(&format!("stopping the local backend: {e:#}"));
    }
    match &done.history {
        Some(Ok((location, id))) => {
            let _ = writeln!(out, "history: run #{id} in {location}");
        }
        Some(Err(e)) => console.warning(e),
        None => {}
    }
    done.into_result()
}
