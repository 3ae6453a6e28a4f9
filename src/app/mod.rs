//! The application flow between the command line and the layers below:
//! what a command does once its flags are parsed. `cli` parses and calls
//! in; nothing here reads a flag or prints, so a library caller (or a
//! test) runs the same flow the binary does.
//!
//! - [`gate`]: the baseline policy (opening the history, choosing and
//!   vetting the baseline) and the regression gate of one run;
//! - [`finish`]: the end of a load run or a merge, judged once and then
//!   handed to the store, the run directory, GitHub and the console;
//! - [`verify`]: the end of a verify run: its files, GitHub, the history.

pub mod finish;
pub mod gate;
pub mod verify;
