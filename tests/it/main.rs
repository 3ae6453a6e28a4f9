//! The harness's integration tests, in one test binary: one module per
//! area, sharing `tests/support`. One binary links goose, sqlx and the
//! backend once instead of once per file.
//!
//! Three files stay binaries of their own, because what they measure is
//! process-wide and a neighbour test in the same process would distort it:
//! `tests/bundled_load.rs` and `tests/regression.rs` (load latency, with
//! their own runs taking turns) and `tests/command_steps.rs` (the peak RSS
//! of every child of the test process, and a global tracing subscriber).
//!
//! This binary uses every helper in `tests/support`, so the helpers carry no
//! `allow(dead_code)`: one no module uses any more is a warning here. The
//! three binaries above use a few and allow the rest.

#[path = "../support/mod.rs"]
mod support;

mod ci_examples;
mod ci_reporting;
mod deploy_manifests;
mod headers;
mod https;
mod load_e2e;
mod load_pg;
mod load_reports;
mod metric_windows;
mod metrics_parse;
mod module_graph;
mod numeric_inputs;
mod scenario_schema;
mod secrets;
mod shards;
mod signals;
mod target_faults;
mod tf_outputs;
mod validate_errors;
mod verify_e2e;
