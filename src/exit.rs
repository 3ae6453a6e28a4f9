//! Exit codes: the contract between postdeploy and the CI pipeline that
//! runs it. Documented in the README; never renumber them.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every check passed.
    Passed = 0,
    /// A check failed (or an SLO was breached).
    Failed = 1,
    /// Invalid scenario or usage: nothing was sent.
    Invalid = 2,
    /// `--wait-ready`: the target never became ready before the deadline.
    NotReady = 3,
    /// postdeploy itself could not do its job (e.g. could not write a report
    /// or start the local backend).
    Internal = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}
