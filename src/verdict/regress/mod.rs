//! Regression gate statistics: is the current run worse than its baseline by
//! more than the noise between runs?
//!
//! Requests in a load test are correlated in time (a slow second is followed
//! by another slow second), so an i.i.d. test over a million requests would
//! flag shifts no rerun would reproduce. `stats` therefore resamples whole
//! blocks of consecutive seconds (a moving-block bootstrap over the stored
//! interval histograms), and `classify` turns the resulting intervals into a
//! verdict per metric against a tolerance widened by the baseline's own
//! run-to-run spread.

pub mod classify;
pub mod gate;
pub mod stats;
pub mod tolerance;

pub use gate::Regression;
