//! Command line: clap parses raw flags ([`args`]), [`setup`] turns them into
//! validated run inputs once, and each command has its own module. Commands
//! return `Result<Exit, Error>`; only [`main`] prints an error, once.

pub mod args;
mod compare;
mod history;
mod load;
mod merge;
pub mod setup;
mod trend;
mod validate;
mod verify;

use std::io::Write as _;

use clap::{Parser, Subcommand};

pub use args::{Common, LoadArgs, RunArgs, ValidateArgs, VerifyArgs};

use crate::error::Error;
use crate::exit::Exit;
use crate::scenario;

#[derive(Debug, Parser)]
#[command(name = "postdeploy", version, about = "Prove a fresh deployment of an HTTP API is healthy, correct and fast enough", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scenarios once as a gate (exit 0 pass, 1 fail, 2 invalid, 3 not ready, 130/143 interrupted).
    Verify(VerifyArgs),
    /// Load-test the target with the scenarios (exit 0 SLOs met, 1 breached, 2 invalid, 4 internal, 130/143 interrupted).
    Load(LoadArgs),
    /// Add up the shards of a sharded load run exactly, and judge the whole (exit codes as for load; 2 when the shards do not fit together).
    Merge(args::MergeArgs),
    /// Compare two finished runs with the regression gate (exit 0 no regression, 1 regressed, 2 invalid or not comparable).
    Compare(args::CompareArgs),
    /// List, show, prune and import recorded runs; draw their trends.
    History(args::HistoryCmd),
    /// Check scenario files without sending anything.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
}

/// Parses argv, runs the command, returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Invalid.into()
            } else {
                Exit::Passed.into()
            };
        }
    };
    // Our clients name their provider in their configs (crate::tls); this
    // is for rustls users that ask for the process default instead, such as
    // the reqwest client goose builds and never uses.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let result = rt.block_on(run(cli));
    // An abandoned teardown leaves tasks behind; they must not hold the
    // exit the user asked for.
    rt.shutdown_background();
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            let text = format!("error: {e}");
            let _ = writeln!(std::io::stderr(), "{}", crate::secrets::redact(&text));
            e.exit().into()
        }
    }
}

pub async fn run(cli: Cli) -> Result<Exit, Error> {
    match cli.command {
        Command::Schema => {
            let s =
                serde_json::to_string_pretty(&scenario::json_schema()).map_err(Error::internal)?;
            println!("{s}");
            Ok(Exit::Passed)
        }
        Command::Validate(a) => validate::run(&a),
        Command::Compare(a) => compare::run(a).await,
        Command::Merge(a) => {
            install_signals()?;
            merge::run(a).await
        }
        Command::History(a) => history::run(a).await,
        Command::Verify(a) => {
            install_signals()?;
            verify::run(a).await
        }
        Command::Load(a) => {
            // Before goose starts: see crate::signals.
            install_signals()?;
            load::run(a).await
        }
    }
}

fn install_signals() -> Result<(), Error> {
    crate::signals::install()
        .map_err(|e| Error::internal(anyhow::anyhow!("cannot catch SIGINT/SIGTERM: {e}")))
}

/// Whether the console may redraw lines (a person at a terminal).
fn interactive() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal() && !setup::in_ci()
}

/// Stdout with the run's secrets masked.
fn stdout() -> crate::secrets::Redacting<std::io::Stdout> {
    crate::secrets::Redacting::new(std::io::stdout())
}
