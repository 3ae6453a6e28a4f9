//! `postdeploy validate`: every problem of every file, nothing sent.

use std::io::Write as _;

use super::args::ValidateArgs;
use super::setup::{read_scenarios_with, run_vars};
use crate::error::Error;
use crate::exit::Exit;

pub fn run(a: &ValidateArgs) -> Result<Exit, Error> {
    let tf = a
        .tf_outputs
        .as_deref()
        .map(crate::tf::TfOutputs::read)
        .transpose()?;
    if let Some(tf) = &tf {
        tf.register_secrets();
    }
    let tf_vars = tf
        .as_ref()
        .map(crate::tf::TfOutputs::vars)
        .unwrap_or_default();
    let loaded = read_scenarios_with(&a.common, run_vars(&a.common, tf_vars)?)?;
    let mut out = super::stdout();
    for l in &loaded {
        let _ = writeln!(
            out,
            "ok  {} ({}: {} steps, {} teardown)",
            l.path.display(),
            l.scenario.name,
            l.scenario.steps.len(),
            l.scenario.teardown.len()
        );
        for (line, program) in crate::scenario::missing_programs(&l.scenario) {
            let _ = writeln!(
                out,
                "warning: {}:{line}: program `{program}` is not on PATH here (it may be where the gate runs)",
                l.path.display()
            );
        }
    }
    Ok(Exit::Passed)
}
