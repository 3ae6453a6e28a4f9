//! The application flow between the command line and the layers below:
//! what a command does once its flags are parsed. `cli` parses and calls
//! in; nothing here reads a flag, and output goes only to the sink or
//! writer the CLI hands in, so a library caller (or a
//! test) runs the same flow the binary does.
//!
//! - [`compare`]: the regression gate on two finished runs;
//! - [`gate`]: the baseline policy (opening the history, choosing and
//!   vetting the baseline) and the regression gate of one run;
//! - [`finish`]: the end of a load run or a merge, judged once and then
//!   handed to the store, the run directory, GitHub and the console;
//! - [`load`]: a checked load plan run: gate, target, attack, finish;
//! - [`merge`]: the shards of a sharded run added up, then finished as a
//!   load run is;
//! - [`verify`]: the end of a verify run: its files, GitHub, the history.

pub mod compare;
pub mod finish;
pub mod gate;
pub mod load;
pub mod merge;
pub mod verify;
