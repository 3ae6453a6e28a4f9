//! Service-level objectives of a load run: parsing `--slo` strings, merging
//! them with the scenarios' `slo:` maps, and judging measurements against
//! them. Pure functions: no I/O, so every rule here is unit-testable.
//!
//! Rules worth knowing:
//! - Scenario SLOs are merged by request name; when two scenarios bound the
//!   same metric of the same name, the stricter bound wins (both authors'
//!   objectives must hold). `--slo` then adds or replaces.
//! - `"*"` judges the whole run: all names' histograms merged, counts summed.
//! - Error budget: every measured request name gets an error-rate check. Its
//!   budget is the name's own `error_rate`, else the run-wide (`"*"`)
//!   `error_rate` (so one failing endpoint cannot hide behind many healthy
//!   ones), else **zero failed requests**: a load test of a fresh deploy
//!   should not produce errors unless someone said it may.
//! - Transport errors (timeouts, refused connections) count as failed
//!   requests; they have no latency, so percentiles cover completed answers.

mod evaluate;
mod format;
mod objective;
mod parse;
mod set;

pub use crate::measure::metric::Metric;
pub use evaluate::SloResult;
pub(crate) use format::num;
pub use objective::{Objective, Op, RecordedObjective};
pub use parse::{SloParseError, parse_slo};
pub use set::{SloSet, slo_set};

/// Scope key of objectives that judge the whole run.
pub const WHOLE_RUN: &str = "*";
