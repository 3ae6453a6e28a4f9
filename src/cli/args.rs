//! The flags, as clap parses them. Numbers are range-checked here, so a
//! value no run could honour is a usage error (exit 2) before anything
//! starts, never a panic deep inside a run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Args)]
pub struct Common {
    /// Scenario files or directories [default: scenarios/].
    pub scenarios: Vec<PathBuf>,
    /// Extra directory searched for files named in `expect.schema` [default: schemas/ if present].
    #[arg(long = "schemas", value_name = "DIR")]
    pub schema_dirs: Vec<PathBuf>,
    /// Set a variable: `--var name=value` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Set a secret variable: like --var, and its value is masked in every
    /// output (repeatable).
    #[arg(long = "secret-var", value_name = "NAME=VALUE")]
    pub secret_vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub common: Common,
    /// The output of `terraform output -json`, so `${tf.NAME}` references
    /// are checked against it (as `verify` and `load` would).
    #[arg(long, value_name = "FILE|-")]
    pub tf_outputs: Option<PathBuf>,
}

/// What `verify` and `load` share: where to send requests and how.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the deployment, or `local` for the in-repo backend on an
    /// embedded database. Required when CI is set; at a terminal it
    /// defaults to `local`.
    #[arg(long, env = "POSTDEPLOY_TARGET", value_name = "URL|local")]
    pub target: Option<String>,
    /// Run only scenarios with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Skip scenarios with this tag (repeatable); `verify` also skips steps with it.
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Default per-request timeout (a step's own timeout wins).
    #[arg(long, value_name = "DURATION", value_parser = request_timeout)]
    pub timeout: Option<Duration>,
    /// Accept any TLS certificate (self-signed staging targets).
    #[arg(long)]
    pub insecure: bool,
    /// Also trust the CA certificates in this PEM file (one or more: a
    /// private CA, or the target's self-signed certificate).
    #[arg(long, env = "POSTDEPLOY_CACERT", value_name = "FILE", value_parser = maybe_empty_path)]
    pub cacert: Option<PathBuf>,
    /// Extra request header `Name: value` (repeatable). Values are secrets:
    /// masked in every output.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Largest response body read, in bytes (at most 1 GiB).
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES", value_parser = body_cap)]
    pub max_body: usize,
    /// After SIGINT/SIGTERM: how long requests in flight and the teardown
    /// of begun scenarios may take before they are abandoned.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub teardown_timeout: Duration,
    /// The output of `terraform output -json` (a file, or `-` for stdin):
    /// `${tf.NAME}` in scenarios and flags, `--target tf:NAME`. Sensitive
    /// outputs are secrets.
    #[arg(long, value_name = "FILE|-")]
    pub tf_outputs: Option<PathBuf>,
    /// Terraform workspace recorded in every report [default: TF_WORKSPACE].
    #[arg(long, value_name = "NAME")]
    pub tf_workspace: Option<String>,
    /// Terraform state serial recorded in every report.
    #[arg(long, value_name = "N")]
    pub tf_serial: Option<u64>,
    /// A `key=value` recorded in every report's provenance (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub run: RunArgs,
    /// Poll the readiness step until it passes, at most this long (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub wait_ready: Option<Duration>,
    /// Consecutive passes of the readiness step that count as ready.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub ready_successes: u32,
    /// Repeat the scenarios until this much time has passed (e.g. 10m).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub soak: Option<Duration>,
    /// JUnit XML report.
    #[arg(long, default_value = "reports/junit.xml", value_name = "FILE")]
    pub junit: PathBuf,
    /// Machine-readable JSON report.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Stop at the first failing scenario (teardown still runs).
    #[arg(long)]
    pub fail_fast: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline: a stored run id, a report directory or a summary.json.
    pub base: String,
    /// Current run: a stored run id, a report directory or a summary.json.
    pub current: String,
    /// History store holding the run ids [default: reports/history.sqlite].
    #[arg(long, env = "POSTDEPLOY_HISTORY", value_name = "FILE|URL")]
    pub history: Option<String>,
    #[command(flatten)]
    pub judge: JudgeArgs,
    /// Write JUnit XML (one test case per request name and metric).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryCmd {
    /// History store [default: reports/history.sqlite].
    #[arg(
        long,
        env = "POSTDEPLOY_HISTORY",
        value_name = "FILE|URL",
        global = true
    )]
    pub history: Option<String>,
    #[command(subcommand)]
    pub action: HistoryAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum HistoryAction {
    /// List stored runs, newest first.
    List {
        /// Only `load` or `verify` runs.
        #[arg(long, value_name = "load|verify")]
        kind: Option<String>,
        /// Most runs listed.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// As JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: its provenance, fingerprint, figures and verdicts.
    Show {
        /// Run id.
        run: i64,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Keep the newest N runs of each fingerprint, delete the rest.
    Prune {
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        keep: u32,
    },
    /// Record report directories of earlier load runs.
    Import {
        /// Report directories or summary.json files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Environment label for runs recorded without one.
        #[arg(long, value_name = "NAME")]
        env: Option<String>,
    },
    /// Render the trends across runs as one self-contained HTML page.
    Trend {
        #[arg(long, default_value = "reports/trend.html", value_name = "FILE")]
        out: PathBuf,
        /// Most runs per fingerprint (the newest).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub run: RunArgs,
    /// Closed model: concurrent users (open model: unused).
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=i64::from(crate::load::MAX_USERS)))]
    pub users: u32,
    /// Time to start all users (part of --duration).
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration)]
    pub ramp: Duration,
    /// Length of the whole run, ramp included.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub duration: Duration,
    /// Open model: requests per second on a fixed schedule, latency measured
    /// from each request's intended send time.
    #[arg(long, value_name = "RPS", value_parser = rate)]
    pub rate: Option<f64>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Open model: most scenario iterations in flight at once.
    #[arg(long, default_value_t = crate::load::DEFAULT_MAX_IN_FLIGHT, value_name = "N", value_parser = max_in_flight)]
    pub max_in_flight: usize,
    /// Report directory [default: reports/<UTC timestamp>/, linked from reports/latest].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Path of the target's Prometheus metrics, scraped before and after the run.
    #[arg(long, default_value = "/api/metrics", value_name = "PATH")]
    pub metrics_path: String,
    /// Do not scrape the target's metrics.
    #[arg(long)]
    pub no_server_metrics: bool,
    /// Extra SLO, e.g. `p95<300ms` (repeatable; see the docs).
    #[arg(long = "slo", value_name = "SLO")]
    pub slos: Vec<String>,
    /// Run shard I of N (I counts from 0): users, rate and --max-requests
    /// are split exactly; `postdeploy merge` adds the shards up.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Run one of N shards, its index taken from JOB_COMPLETION_INDEX (as
    /// Kubernetes sets it in each pod of an Indexed Job).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::load::shard::MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Begin at this time (RFC 3339, e.g. 2026-12-02T12:00:00Z), so that
    /// all shards start together.
    #[arg(long, value_name = "TIME", value_parser = crate::load::shard::parse_start_at)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A run starting later than this after --start-at marks itself late
    /// (and `merge` refuses it).
    #[arg(long, default_value = crate::load::shard::DEFAULT_MAX_SKEW, value_name = "DURATION", value_parser = duration)]
    pub max_skew: Duration,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard report directories (or their summary.json), or glob patterns
    /// such as `reports/run-1/shard-*`.
    #[arg(required = true, value_name = "SHARD_DIR")]
    pub shards: Vec<String>,
    /// Directory for the merged run's reports.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Extra SLO, e.g. `p95<300ms`, on top of those the shards were judged by.
    #[arg(long = "slo", value_name = "SLO")]
    pub slos: Vec<String>,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub gate: GateArgs,
}

/// Where runs are recorded (`load` and `verify`).
#[derive(Debug, Args, Clone)]
pub struct HistoryArgs {
    /// Run history: a SQLite file, or a `postgres://` URL for a history
    /// shared by several pipelines [default: reports/history.sqlite].
    #[arg(long, env = "POSTDEPLOY_HISTORY", value_name = "FILE|URL")]
    pub history: Option<String>,
    /// Do not record this run (and compare only with `--baseline PATH`);
    /// wins over --history and POSTDEPLOY_HISTORY.
    #[arg(long)]
    pub no_history: bool,
    /// Environment label (`staging`, `prod`): runs are compared within
    /// one environment [default: the target URL].
    #[arg(long, env = "POSTDEPLOY_ENV", value_name = "NAME")]
    pub env: Option<String>,
}

/// The regression gate's choices (`load` and `compare`).
#[derive(Debug, Args, Clone)]
pub struct GateArgs {
    /// What to compare with: `auto` (the last --baseline-runs accepted
    /// comparable runs), `none`, a run id, `commit:SHA`, `deploy:ID`, or a
    /// report directory / summary.json.
    #[arg(
        long,
        default_value = "auto",
        value_name = "auto|none|ID|commit:SHA|deploy:ID|PATH"
    )]
    pub baseline: String,
    /// How many accepted runs form an automatic baseline.
    #[arg(long, default_value_t = 5, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub baseline_runs: u32,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

/// How a comparison is judged and written (`load`, `merge` and `compare`).
#[derive(Debug, Args, Clone)]
pub struct JudgeArgs {
    /// Compare even when the runs were not made alike (target/env,
    /// scenarios, model, users or rate, duration ±10%).
    #[arg(long)]
    pub force_compare: bool,
    /// Regression tolerance, e.g. `p95:+10%`, `create project:p99:+20%,+5ms`,
    /// `error_rate:+0.1pt`, `rate:-5%` (repeatable).
    #[arg(long = "regress", value_name = "[NAME:]METRIC:TOL")]
    pub regress: Vec<String>,
    /// Report regressions without failing the run.
    #[arg(long)]
    pub regress_warn: bool,
    /// Write the comparison as Markdown (also appended to
    /// $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write Bencher Metric Format JSON, with the intervals as bounds.
    #[arg(long, value_name = "FILE")]
    pub bmf: Option<PathBuf>,
}

impl From<&JudgeArgs> for crate::app::gate::JudgeOptions {
    fn from(a: &JudgeArgs) -> Self {
        crate::app::gate::JudgeOptions {
            force_compare: a.force_compare,
            regress: a.regress.clone(),
            regress_warn: a.regress_warn,
            markdown: a.markdown.clone(),
            bmf: a.bmf.clone(),
        }
    }
}

impl From<&GateArgs> for crate::app::gate::GateOptions {
    fn from(a: &GateArgs) -> Self {
        crate::app::gate::GateOptions {
            baseline: a.baseline.clone(),
            baseline_runs: a.baseline_runs,
            judge: (&a.judge).into(),
        }
    }
}

/// Durations of runs, soaks and waits: at most [`crate::load::MAX_RUN`].
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = crate::scenario::values::parse_duration(s)?;
    if d > crate::load::MAX_RUN {
        return Err(format!(
            "`{s}` is longer than the longest run postdeploy takes ({})",
            humantime::format_duration(crate::load::MAX_RUN)
        ));
    }
    Ok(d)
}

/// A request timeout: more than zero, at most a day.
fn request_timeout(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return Err(format!(
            "`{s}`: a timeout must be more than 0 and at most 24h"
        ));
    }
    Ok(d)
}

fn rate(s: &str) -> Result<f64, String> {
    use crate::load::{MAX_RATE, MIN_RATE};
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of requests per second"))?;
    if !r.is_finite() || !(MIN_RATE..=MAX_RATE).contains(&r) {
        return Err(format!(
            "`{s}`: the rate must be from {MIN_RATE} to {MAX_RATE} requests per second"
        ));
    }
    Ok(r)
}

fn max_in_flight(s: &str) -> Result<usize, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    let max = crate::load::MAX_IN_FLIGHT as u64;
    if !(1..=max).contains(&n) {
        return Err(format!("`{s}`: must be from 1 to {max}"));
    }
    Ok(n as usize)
}

/// A path that may be empty: pipelines set `POSTDEPLOY_CACERT` from a
/// variable that is often empty, which means "none" (as an empty
/// `POSTDEPLOY_TARGET` does), not a usage error.
fn maybe_empty_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

const MAX_BODY_CAP: u64 = 1 << 30;

fn body_cap(s: &str) -> Result<usize, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of bytes"))?;
    if !(1..=MAX_BODY_CAP).contains(&n) {
        return Err(format!("`{s}`: must be from 1 to {MAX_BODY_CAP} bytes"));
    }
    usize::try_from(n).map_err(|_| format!("`{s}` does not fit this machine"))
}
