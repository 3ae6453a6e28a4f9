//! The one error type of a command, and the exit code each kind means.
//! Commands return `Result<Exit, Error>`: `Ok` is a verdict (passed,
//! failed, not ready, interrupted), `Err` is a run that could not be done.
//! Only `cli::main` prints an error, once.

use crate::exit::Exit;
use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Scenario files that do not validate; every problem, located.
    #[error("{}", scenario_errors(.0))]
    Scenarios(Vec<ScenarioError>),
    /// A flag, or a combination of them, that cannot work. Nothing was sent.
    #[error("{0}")]
    Usage(String),
    /// In CI with no target: the deployment would never be looked at.
    #[error(
        "no target given and CI is set: name the deployment with --target URL (or POSTDEPLOY_TARGET); --target local runs against the embedded backend on purpose"
    )]
    NoTargetInCi,
    /// `--tf-outputs` that is not Terraform's outputs, or a reference to
    /// an output that is not there. Nothing was sent.
    #[error(transparent)]
    Tf(#[from] crate::tf::TfError),
    /// postdeploy itself failed (runtime, local backend, writing reports).
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Error {
        Error::Internal(e.into())
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Scenarios(_) | Error::Usage(_) | Error::NoTargetInCi | Error::Tf(_) => {
                Exit::Invalid
            }
            Error::Internal(_) => Exit::Internal,
        }
    }
}

fn scenario_errors(errors: &[ScenarioError]) -> String {
    // `cli::main` writes "error: " before the first one.
    let mut s = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            s.push_str("error: ");
        }
        s.push_str(&format!("{e}\n\n"));
    }
    let files: std::collections::BTreeSet<_> = errors.iter().map(|e| &e.file).collect();
    s.push_str(&format!(
        "{} error(s) in {} file(s); nothing was sent",
        errors.len(),
        files.len()
    ));
    s
}
