//! postdeploy: verify and load-test an HTTP API right after it is deployed.

pub mod check;
pub mod metrics;
pub mod scenario;
