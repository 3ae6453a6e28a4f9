//! postdeploy: verify and load-test an HTTP API right after it is deployed.
//!
//! Data flows one way: scenario files → validated model (`scenario`) →
//! execution (`verify`, `load`) → measurements → verdicts (`verdict`) →
//! reports (`report`).

pub(crate) mod app;
pub(crate) mod check;
pub mod cli;
pub(crate) mod command;
pub(crate) mod error;
pub mod event;
pub(crate) mod exit;
pub(crate) mod history;
pub mod http;
pub mod load;
pub mod measure;
pub(crate) mod merge;
pub mod metrics;
pub(crate) mod outcome;
pub mod prepare;
pub mod provenance;
pub(crate) mod record;
pub(crate) mod redirect;
pub mod report;
pub mod rundir;
pub mod scenario;
pub(crate) mod secrets;
pub(crate) mod signals;
pub(crate) mod target;
pub(crate) mod tf;
pub(crate) mod tls;
pub mod verdict;
pub(crate) mod verify;
