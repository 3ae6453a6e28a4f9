//! Exit codes: the contract between postdeploy and the CI pipeline that
//! runs it. Documented in the README's table; never renumber them.

use std::process::ExitCode;

use crate::signals::Signal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every check passed (every SLO held), and the run was not cut short.
    Passed,
    /// A check failed (or an SLO was breached).
    Failed,
    /// Invalid scenario or usage: nothing was sent.
    Invalid,
    /// `--wait-ready`: the target never became ready before the deadline.
    NotReady,
    /// postdeploy itself could not do its job (e.g. could not write a report
    /// or start the local backend).
    Internal,
    /// A signal stopped the run: 130 (SIGINT) or 143 (SIGTERM), as a shell
    /// reports a process the signal killed, so CI tells it from a verdict.
    Interrupted(Signal),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Passed => 0,
            Exit::Failed => 1,
            Exit::Invalid => 2,
            Exit::NotReady => 3,
            Exit::Internal => 4,
            Exit::Interrupted(s) => s.exit_status(),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
