//! The measurement layer: what a run measured, as plain data, at the
//! bottom of the crate. Runners fill it in, verdicts judge it, the run
//! directory stores it and reports draw it; it imports none of them, so
//! each of those can change without reading the others.

pub mod codec;
mod fmt;
pub mod metric;
mod model;
mod sparse;

pub use fmt::{fmt_duration, ms, quantile_ms};
pub use model::*;
pub use sparse::Sparse;
