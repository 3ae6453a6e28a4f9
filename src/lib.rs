//! postdeploy: verify and load-test an HTTP API right after it is deployed.
//!
//! Data flows one way: scenario files → validated model (`scenario`) →
//! execution (`verify`, `load`) → measurements → verdicts (`verdict`) →
//! reports (`report`).

pub mod app;
pub mod check;
pub mod cli;
pub mod command;
pub mod error;
pub mod event;
pub mod exit;
pub mod history;
pub mod http;
pub mod load;
pub mod measure;
pub mod merge;
pub mod metrics;
pub mod outcome;
pub mod prepare;
pub mod provenance;
pub mod record;
pub mod redirect;
pub mod report;
pub mod rundir;
pub mod scenario;
pub mod secrets;
pub mod signals;
pub mod target;
pub mod tf;
pub mod tls;
pub mod verdict;
pub mod verify;
