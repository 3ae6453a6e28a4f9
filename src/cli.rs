//! Command line: clap parses raw flags, `into_*` turns them into validated
//! runner options once. Runners never see clap types.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::event::Sink;
use crate::exit::Exit;
use crate::http::{Client, HttpOptions, parse_header};
use crate::prepare::RequestDefaults;
use crate::report::{self, console::Console};
use crate::scenario::{self, LoadOptions, Loaded, ScenarioError};
use crate::target::Target;
use crate::verify::{self, VerifyOptions};

#[derive(Debug, Parser)]
#[command(name = "postdeploy", version, about = "Prove a fresh deployment of an HTTP API is healthy, correct and fast enough", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scenarios once as a gate (exit 0 pass, 1 fail, 2 invalid, 3 not ready).
    Verify(VerifyArgs),
    /// Load-test the target with the scenarios (exit 0 SLOs met, 1 breached, 2 invalid, 4 internal).
    Load(LoadArgs),
    /// Check scenario files without sending anything.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the scenario format.
    Schema,
}

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
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub common: Common,
}

/// What `verify` and `load` share: where to send requests and how.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Base URL of the deployment; without it, the in-repo backend is started
    /// locally on an embedded database.
    #[arg(long, env = "POSTDEPLOY_TARGET", value_name = "URL")]
    pub target: Option<String>,
    /// Run only scenarios with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Skip scenarios with this tag (repeatable); `verify` also skips steps with it.
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Default per-request timeout (a step's own timeout wins).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    pub insecure: bool,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Largest response body read, in bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024, value_name = "BYTES")]
    pub max_body: usize,
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
    #[arg(long, default_value_t = 3, value_name = "N")]
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
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub run: RunArgs,
    /// Closed model: concurrent users (open model: unused).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub users: u32,
    /// Time to start all users (part of --duration).
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = duration)]
    pub ramp: Duration,
    /// Length of the whole run, ramp included.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub duration: Duration,
    /// Open model: requests per second on a fixed schedule, latency measured
    /// from each request's intended send time.
    #[arg(long, value_name = "RPS")]
    pub rate: Option<f64>,
    /// Stop after this many requests.
    #[arg(long, value_name = "N")]
    pub max_requests: Option<u64>,
    /// Open model: most scenario iterations in flight at once.
    #[arg(long, default_value_t = crate::load::DEFAULT_MAX_IN_FLIGHT, value_name = "N")]
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
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::scenario::values::parse_duration(s)
}

/// Parses argv, runs the command, returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Invalid.into()
            } else {
                Exit::Passed.into()
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    rt.block_on(run(cli)).into()
}

pub async fn run(cli: Cli) -> Exit {
    match cli.command {
        Command::Schema => {
            let s = serde_json::to_string_pretty(&scenario::json_schema()).unwrap_or_default();
            println!("{s}");
            Exit::Passed
        }
        Command::Validate(a) => match load(&a.common) {
            Ok(loaded) => {
                for l in &loaded {
                    println!(
                        "ok  {} ({}: {} steps, {} teardown)",
                        l.path.display(),
                        l.scenario.name,
                        l.scenario.steps.len(),
                        l.scenario.teardown.len()
                    );
                }
                Exit::Passed
            }
            Err(e) => e,
        },
        Command::Verify(a) => verify_cmd(a).await,
        Command::Load(a) => load_cmd(a).await,
    }
}

fn print_errors(errors: &[ScenarioError]) {
    let mut err = std::io::stderr().lock();
    for e in errors {
        let _ = writeln!(err, "error: {e}\n");
    }
    let files: std::collections::BTreeSet<_> = errors.iter().map(|e| &e.file).collect();
    let _ = writeln!(
        err,
        "{} error(s) in {} file(s); nothing was sent",
        errors.len(),
        files.len()
    );
}

fn parse_vars(raw: &[String]) -> Result<BTreeMap<String, String>, String> {
    raw.iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| format!("--var `{v}` must look like name=value"))
        })
        .collect()
}

fn load(c: &Common) -> Result<Vec<Loaded>, Exit> {
    let vars = parse_vars(&c.vars).map_err(|e| {
        eprintln!("error: {e}");
        Exit::Invalid
    })?;
    let mut paths = c.scenarios.clone();
    if paths.is_empty() {
        if !Path::new("scenarios").is_dir() {
            eprintln!("error: no scenario files given and ./scenarios does not exist");
            return Err(Exit::Invalid);
        }
        paths.push(PathBuf::from("scenarios"));
    }
    let mut schema_dirs = c.schema_dirs.clone();
    if schema_dirs.is_empty() && Path::new("schemas").is_dir() {
        schema_dirs.push(PathBuf::from("schemas"));
    }
    scenario::load_all(&paths, &LoadOptions { schema_dirs, vars }).map_err(|errors| {
        print_errors(&errors);
        Exit::Invalid
    })
}

/// `--header` values, checked before anything is sent.
fn parse_headers(raw: &[String]) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, Exit> {
    raw.iter()
        .map(|h| {
            parse_header(h).map_err(|e| {
                eprintln!("error: --header: {e}");
                Exit::Invalid
            })
        })
        .collect()
}

/// The scenarios the tag filters keep; none is a usage error.
fn select<'a>(
    loaded: &'a [Loaded],
    tags: &[String],
    skip: &[String],
) -> Result<Vec<&'a Loaded>, Exit> {
    let selected = verify::select(loaded, tags, skip);
    if selected.is_empty() {
        eprintln!("error: no scenario matches the tag filters");
        return Err(Exit::Invalid);
    }
    Ok(selected)
}

async fn verify_cmd(a: VerifyArgs) -> Exit {
    // Everything is validated before the first request.
    let loaded = match load(&a.common) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let headers = match parse_headers(&a.run.headers) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let vars = parse_vars(&a.common.vars).unwrap_or_default();
    let selected = match select(&loaded, &a.run.tags, &a.run.skip_tags) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if a.wait_ready.is_some() && verify::find_readiness_step(&selected).is_none() {
        eprintln!("error: --wait-ready needs a readiness step: mark one with `readiness: true`");
        return Exit::Invalid;
    }
    let client = match Client::new(&HttpOptions {
        insecure: a.run.insecure,
        max_body: a.run.max_body,
        ..HttpOptions::default()
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Internal;
        }
    };
    let target = match Target::resolve(a.run.target.as_deref()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return if a.run.target.is_some() {
                Exit::Invalid
            } else {
                Exit::Internal
            };
        }
    };
    let opts = VerifyOptions {
        request: RequestDefaults {
            target: target.url().clone(),
            headers,
            timeout: a.run.timeout,
        },
        vars,
        tags: a.run.tags.clone(),
        skip_tags: a.run.skip_tags.clone(),
        fail_fast: a.fail_fast,
        wait_ready: a.wait_ready,
        ready_successes: a.ready_successes,
        soak: a.soak,
    };
    let interactive = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let mut console = Console::new(std::io::stdout(), interactive);
    let sink: &mut dyn Sink = &mut console;
    let report = verify::run(&selected, &client, &opts, sink).await;
    if let Err(e) = target.shutdown().await {
        eprintln!("warning: stopping the local backend: {e:#}");
    }
    let mut code = if report.ready.as_ref().is_some_and(|r| !r.ready) {
        Exit::NotReady
    } else if report.passed {
        Exit::Passed
    } else {
        Exit::Failed
    };
    let junit =
        report::junit::render(&report).and_then(|x| report::write_file(&a.junit, x.as_bytes()));
    if let Err(e) = junit {
        eprintln!("error: JUnit report: {e:#}");
        code = Exit::Internal;
    }
    if let Some(p) = &a.json {
        let json = serde_json::to_vec_pretty(&report).map_err(anyhow::Error::from);
        if let Err(e) = json.and_then(|j| report::write_file(p, &j)) {
            eprintln!("error: JSON report: {e:#}");
            code = Exit::Internal;
        }
    }
    code
}

async fn load_cmd(a: LoadArgs) -> Exit {
    // Everything is validated before the first request.
    let loaded = match load(&a.common) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let headers = match parse_headers(&a.run.headers) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let vars = parse_vars(&a.common.vars).unwrap_or_default();
    let selected = match select(&loaded, &a.run.tags, &a.run.skip_tags) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let slos = match report::load::slo_set(&selected, &a.slos) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Invalid;
        }
    };
    // Before goose starts: see load::interrupt.
    if let Err(e) = crate::load::interrupt::install() {
        eprintln!("error: cannot catch Ctrl-C: {e}");
        return Exit::Internal;
    }
    let interrupt = crate::load::interrupt::ctrl_c();
    let mut opts = crate::load::LoadOptions {
        // Replaced once the target is known.
        request: RequestDefaults {
            target: url::Url::parse("http://127.0.0.1/").expect("static URL"),
            headers,
            timeout: a.run.timeout,
        },
        vars,
        users: a.users,
        ramp: a.ramp,
        duration: a.duration,
        rate: a.rate,
        max_requests: a.max_requests,
        max_in_flight: a.max_in_flight,
        metrics_path: (!a.no_server_metrics).then(|| a.metrics_path.clone()),
        http: HttpOptions {
            insecure: a.run.insecure,
            max_body: a.run.max_body,
            pool_max_idle: a.users.max(64) as usize,
        },
    };
    if let Err(e) = opts.validate(&selected) {
        eprintln!("error: {e}");
        return Exit::Invalid;
    }
    let out_dir = a
        .out
        .clone()
        .unwrap_or_else(|| crate::load::out::default_dir(chrono::Utc::now()));
    let target = match Target::resolve(a.run.target.as_deref()).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return if a.run.target.is_some() {
                Exit::Invalid
            } else {
                Exit::Internal
            };
        }
    };
    opts.request.target = target.url().clone();
    let interactive = std::io::stdout().is_terminal() && std::env::var_os("CI").is_none();
    let mut console = Console::new(std::io::stdout(), interactive);
    let measured = crate::load::run(&selected, &opts, interrupt, &mut console).await;
    if let Err(e) = target.shutdown().await {
        eprintln!("warning: stopping the local backend: {e:#}");
    }
    let measurements = match measured {
        Ok(m) => m,
        Err(crate::load::LoadError::Invalid(e)) => {
            eprintln!("error: {e}");
            return Exit::Invalid;
        }
        Err(crate::load::LoadError::Internal(e)) => {
            eprintln!("error: {e}");
            return Exit::Internal;
        }
    };
    let settings = opts.settings(&selected);
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("error: creating {}: {e}", out_dir.display());
        return Exit::Internal;
    }
    if a.out.is_none() {
        if let Err(e) = crate::load::out::link_latest(&out_dir) {
            eprintln!("warning: {e:#}");
        }
    }
    let code = match report::load::write_all(&out_dir, &settings, &measurements, &slos) {
        Ok(outcome) => {
            for r in &outcome.slo_results {
                let mark = if r.passed { "ok      " } else { "BREACHED" };
                println!("  SLO {mark} {}", r.message);
            }
            if outcome.passed {
                Exit::Passed
            } else {
                Exit::Failed
            }
        }
        Err(e) => {
            eprintln!("error: writing the load reports: {e:#}");
            Exit::Internal
        }
    };
    println!("reports: {}", out_dir.display());
    code
}
