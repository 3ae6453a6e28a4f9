//! The scenario file format, version 1.
//!
//! These types are the single source of truth for the format: the YAML loader
//! deserializes into them and `schemas/scenario.schema.json` is generated from
//! them, so editors and `postdeploy validate` can never disagree. Every struct
//! denies unknown keys because a typo in a gate that runs against production
//! must be an error, not a silently skipped check.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::values::{HumanDuration, JsonPathExpr, MetricSelector, Pattern, StatusSpec};

/// The current version of the scenario format. Files may omit `version`;
/// a file written for a later version is rejected rather than half-understood.
pub const FORMAT_VERSION: u32 = 1;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "postdeploy scenario", extend("$id" = "https://postdeploy.dev/schemas/scenario.schema.json"))]
pub struct Scenario {
    /// Format version (currently 1).
    #[serde(default = "default_version")]
    #[schemars(with = "u32")]
    pub version: Spanned<u32>,
    /// Name shown in reports; also the JUnit test suite name.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Tags select scenarios and steps with `--tag`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Variables usable as `${name}`; `--var name=value` overrides them.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Variables whose values are secrets (from `vars`, `--var` or a
    /// capture): masked in every output postdeploy writes, as `${env.X}`
    /// values and `--header` values are.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub defaults: Defaults,
    /// Steps run in order; a failure stops the remaining steps of the scenario
    /// (later steps usually depend on earlier captures).
    #[serde(default)]
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
    /// Steps that always run after `steps`, even after a failure: clean-up of
    /// what the scenario created. A teardown step whose variables were never
    /// captured is skipped, so it only ever deletes what this run created.
    #[serde(default)]
    #[schemars(with = "Vec<Step>")]
    pub teardown: Vec<Spanned<Step>>,
    /// Run only when `--tag` names one of this scenario's tags: for checks
    /// that need something a plain run does not have (cloud credentials,
    /// a log group), so `postdeploy verify` without flags never trips on them.
    #[serde(default)]
    pub opt_in: bool,
    /// Run only against `--target local` (skipped against a deployment):
    /// for checks of the embedded backend itself, such as its log, whose
    /// path is the variable `${local_log}`.
    #[serde(default)]
    pub local_only: bool,
    /// Relative share of load-test users running this scenario.
    #[serde(default = "default_weight")]
    #[schemars(with = "u32")]
    pub weight: Spanned<u32>,
    /// Service-level objectives evaluated by `postdeploy load`, keyed by
    /// request name (a step name) or `"*"` for the whole run.
    #[serde(default)]
    pub slo: BTreeMap<String, Slo>,
    /// Regression tolerances of `postdeploy load`'s baseline gate, keyed by
    /// request name or `"*"`, then by metric (`p50`, `p95`, `p99`,
    /// `error_rate`, `rate`): `"+10%"`, `"+20%,+5ms"`, `"+0.1pt"`, `"-5%"`.
    #[serde(default)]
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
}

fn default_weight() -> Spanned<u32> {
    Spanned::new(1, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_version() -> Spanned<u32> {
    Spanned::new(FORMAT_VERSION, Location::UNKNOWN, Location::UNKNOWN)
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Per-request timeout (e.g. `10s`).
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Latency budget applied to every step that does not set its own.
    #[serde(default)]
    pub max_latency: Option<HumanDuration>,
    /// Headers sent with every request of the scenario.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name shown in reports; the JUnit test case name and the load test's
    /// request name.
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Marks the probe that `--wait-ready` polls. Without any marked step,
    /// the first step whose path mentions `health` is used.
    #[serde(default)]
    pub readiness: bool,
    /// Send the request this many times and check every answer; `distinct`
    /// assertions look across all of them.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub repeat: Option<Spanned<u32>>,
    /// An HTTP request; a step has either `request` or `command`.
    #[serde(default)]
    pub request: Option<Request>,
    /// A local program to run instead of a request: an argv list
    /// (`[aws, logs, tail, "${log_group}"]`), or one string run by `sh -c`
    /// when `shell: true`. Not run by `postdeploy load`.
    #[serde(default)]
    #[schemars(with = "Option<CommandLine>")]
    pub command: Option<Spanned<CommandLine>>,
    /// Run `command` (a string) through `sh -c`.
    #[serde(default)]
    pub shell: bool,
    /// Extra environment variables for `command` (values may use `${var}`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory for `command`.
    #[serde(default)]
    pub cwd: Option<String>,
    /// How long `command` may run (default 60s); then its whole process
    /// group is killed and the step is an error.
    #[serde(default)]
    #[schemars(with = "Option<HumanDuration>")]
    pub timeout: Option<Spanned<HumanDuration>>,
    /// Most bytes kept of each of stdout and stderr (default 10 MiB); the
    /// rest is read and dropped, so a flood cannot exhaust memory.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_output: Option<Spanned<u64>>,
    #[serde(default)]
    pub expect: Expect,
    /// Values to remember for later steps: a JSONPath into the JSON body,
    /// a response header, or a Prometheus sample sum.
    #[serde(default)]
    pub capture: BTreeMap<String, Capture>,
    /// Pause after this step in a load test (think time).
    #[serde(default)]
    pub think: Option<HumanDuration>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// HTTP method; any token is allowed (GET, HEAD, OPTIONS, PATCH, ...).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path relative to the target (`/api/health`) or an absolute URL.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub query: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// JSON body; strings may use `${var}` (a string that is only `${var}`
    /// keeps the captured value's JSON type).
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<Spanned<serde_json::Value>>,
    /// Raw body, sent as is (set `Content-Type` yourself).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// Per-step timeout overriding the scenario default.
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// Follow redirects (default true, at most 10).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
}

/// A command line: an argv list, or a shell string (with `shell: true`).
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum CommandLine {
    Argv(Vec<String>),
    Shell(String),
}

impl CommandLine {
    /// The strings that may hold `${var}` references.
    pub fn parts(&self) -> Vec<&str> {
        match self {
            CommandLine::Argv(v) => v.iter().map(String::as_str).collect(),
            CommandLine::Shell(s) => vec![s.as_str()],
        }
    }
}

fn default_method() -> String {
    "GET".to_string()
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `200`, `[200, 201]`, or a class such as `2xx`.
    #[serde(default)]
    pub status: Option<StatusSpec>,
    /// Latency budget, measured to the last byte of the body.
    #[serde(default)]
    pub max_latency: Option<HumanDuration>,
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderExpect>,
    #[serde(default)]
    pub body: Vec<BodyAssert>,
    /// A JSON Schema file, looked up in the schema directory.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schema: Option<Spanned<String>>,
    /// Assertions on a Prometheus text body.
    #[serde(default)]
    #[schemars(with = "Vec<MetricAssert>")]
    pub metrics: Vec<Spanned<MetricAssert>>,
    /// Assertions across the answers of a repeated step.
    #[serde(default)]
    pub distinct: Vec<DistinctAssert>,
    /// Command steps: the exit code the program must end with (0..=255).
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub exit_code: Option<Spanned<i64>>,
    /// Command steps: assertions on the lines the program printed.
    #[serde(default)]
    pub lines: Vec<LineAssert>,
}

/// An assertion on the lines of a command's output. The lines it looks at
/// are those matching its regex (`none_match`, `some_match` or `match`) and
/// its `json_path` assertion (on lines that parse as JSON), whichever are
/// given; `none_match` wants none of them, `some_match` at least one, and
/// `count` compares how many there are. Named groups of the regex
/// (`(?P<port>\d+)`) capture variables from the first matching line.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineAssert {
    /// `stdout` (default) or `stderr`.
    #[serde(default)]
    pub stream: Stream,
    /// No line may match.
    #[serde(default)]
    pub none_match: Option<Pattern>,
    /// At least one line must match.
    #[serde(default)]
    pub some_match: Option<Pattern>,
    /// Lines to count with `count`.
    #[serde(default, rename = "match")]
    pub matches: Option<Pattern>,
    /// For structured logs: a body assertion applied to each line that
    /// parses as JSON; the lines where it holds are the matching ones.
    #[serde(default)]
    pub json_path: Option<BodyAssert>,
    /// How many lines match: a number, or `{ ge: 1, lt: 10 }`.
    #[serde(default)]
    pub count: Option<Comparison>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    #[default]
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderExpect {
    /// `true`: the header must be present; `false`: it must be absent.
    #[serde(default)]
    pub present: Option<bool>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub equals: Option<Spanned<String>>,
    #[serde(default)]
    pub matches: Option<Pattern>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub contains: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodyAssert {
    /// RFC 9535 JSONPath, e.g. `$.database.status`. Several operators may
    /// be given; all must hold. Symbolic spellings (`==`, `<`, ...) work too.
    pub path: JsonPathExpr,
    /// `true`: the path must select something; `false`: nothing.
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub matches: Option<Pattern>,
    /// For a string: substring; for an array: an element equal to this.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub contains: Option<Spanned<serde_json::Value>>,
    /// Length of a string, array or object.
    #[serde(default)]
    pub length: Option<Comparison>,
    /// JSON type: string, number, integer, boolean, array, object, null.
    #[serde(default, rename = "type")]
    pub json_type: Option<JsonType>,
    #[serde(default, alias = "==")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub equals: Option<Spanned<serde_json::Value>>,
    #[serde(default, alias = "!=")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub not_equals: Option<Spanned<serde_json::Value>>,
    #[serde(default, alias = "<")]
    pub lt: Option<f64>,
    #[serde(default, alias = "<=")]
    pub le: Option<f64>,
    #[serde(default, alias = ">")]
    pub gt: Option<f64>,
    #[serde(default, alias = ">=")]
    pub ge: Option<f64>,
}

impl BodyAssert {
    /// Whether it says anything about what the path selects; one without an
    /// operator is a mistake in the file, never a check that passes.
    pub fn has_operator(&self) -> bool {
        self.exists.is_some()
            || self.matches.is_some()
            || self.contains.is_some()
            || self.length.is_some()
            || self.json_type.is_some()
            || self.equals.is_some()
            || self.not_equals.is_some()
            || [self.lt, self.le, self.gt, self.ge]
                .iter()
                .any(Option::is_some)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

/// A numeric comparison: a bare number means equality.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum Comparison {
    Exactly(u64),
    Ops(NumOps),
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NumOps {
    #[serde(default, alias = "==")]
    pub equals: Option<f64>,
    #[serde(default, alias = "<")]
    pub lt: Option<f64>,
    #[serde(default, alias = "<=")]
    pub le: Option<f64>,
    #[serde(default, alias = ">")]
    pub gt: Option<f64>,
    #[serde(default, alias = ">=")]
    pub ge: Option<f64>,
}

/// One assertion on a Prometheus exposition. Exactly one of `family`,
/// `sample` or `histogram` says what is measured.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricAssert {
    /// The family must be declared (and have samples, unless `if_empty`
    /// says otherwise).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub family: Option<Spanned<String>>,
    /// Sum of the samples a PromQL-style selector matches, e.g.
    /// `http_requests_total{status_code=~"5.."}`.
    #[serde(default)]
    pub sample: Option<MetricSelector>,
    /// A histogram family (selector allowed) whose `quantile` is computed
    /// from its buckets.
    #[serde(default)]
    pub histogram: Option<MetricSelector>,
    /// Quantile in [0, 1] for `histogram`.
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Compute the quantile per label set of these labels (each must hold);
    /// empty: over all series summed.
    #[serde(default)]
    pub by: Vec<String>,
    /// Compare the increase since `${var}`, captured earlier from the same
    /// selector (`capture: { before: { metric: ... } }`). For a `sample` it is
    /// `value - before`; for a `histogram` the quantile is taken over the
    /// observations made since the capture (bucket-wise difference). A lower
    /// reading than the capture means the server restarted: the increase is
    /// then what it counted since the restart, and the report says so.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub delta_from: Option<Spanned<String>>,
    /// For `histogram`: a quantile over fewer observations than this
    /// (default 20) says little (one slow first query is the p95 of ten);
    /// such a group is inconclusive, reported as a warning, not a failure.
    #[serde(default)]
    pub min_samples: Option<u32>,
    /// What a declared family without samples (or an unmatched selector)
    /// means: `fail` (default), `warn` (passes, reported), or `pass`.
    #[serde(default)]
    pub if_empty: IfEmpty,
    #[serde(default, alias = "==")]
    pub equals: Option<f64>,
    #[serde(default, alias = "!=")]
    pub not_equals: Option<f64>,
    #[serde(default, alias = "<")]
    pub lt: Option<f64>,
    #[serde(default, alias = "<=")]
    pub le: Option<f64>,
    #[serde(default, alias = ">")]
    pub gt: Option<f64>,
    #[serde(default, alias = ">=")]
    pub ge: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IfEmpty {
    #[default]
    Fail,
    Warn,
    Pass,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistinctAssert {
    pub path: JsonPathExpr,
    /// At least this many distinct values across the repeated answers; a
    /// number or a `${var}` (so `--var min_instances=2` can raise it in
    /// production behind a load balancer).
    #[serde(default)]
    pub at_least: Option<Count>,
    #[serde(default)]
    pub at_most: Option<Count>,
    /// What it means when no answer has the path at all (an implementation
    /// without the field): `fail` (default), `warn`, or `pass`.
    #[serde(default)]
    pub if_missing: IfEmpty,
}

/// A count written as a number or as a `${var}` resolved at run time.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(untagged)]
pub enum Count {
    Number(u32),
    Var(String),
}

/// Where a captured value comes from. A bare string is a JSONPath.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum Capture {
    Path(JsonPathExpr),
    Source(CaptureSource),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureSource {
    #[serde(default)]
    pub path: Option<JsonPathExpr>,
    #[serde(default)]
    pub header: Option<String>,
    /// Sum of the samples matched by a selector; 0 when none match.
    #[serde(default)]
    pub metric: Option<MetricSelector>,
}

/// Thresholds for `postdeploy load`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default)]
    pub p50: Option<HumanDuration>,
    #[serde(default)]
    pub p90: Option<HumanDuration>,
    #[serde(default)]
    pub p95: Option<HumanDuration>,
    #[serde(default)]
    pub p99: Option<HumanDuration>,
    #[serde(default)]
    pub max: Option<HumanDuration>,
    /// Highest acceptable error ratio, e.g. `0.1%` or `0.001`.
    #[serde(default)]
    pub error_rate: Option<super::values::Ratio>,
    /// Lowest acceptable throughput in requests per second.
    #[serde(default)]
    pub min_rps: Option<f64>,
    /// Most 5xx answers the server's own metrics may count during the run
    /// (usually 0); whole run (`"*"`) only.
    #[serde(default)]
    pub server_5xx: Option<u64>,
}
