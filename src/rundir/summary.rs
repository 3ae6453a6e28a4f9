//! `summary.json` as a type, read and written by serde. It is versioned by
//! [`super::FORMAT`] and described by `schemas/report.schema.json`; the
//! run's writer, history, merge and compare all go through this one type,
//! so a field is added, renamed or defaulted in one place. v1 documents
//! (no `run.uid`, `run.env`, `history`, `regression`) read through the same
//! type: those fields default.
//!
//! Every field is spelled out, parts that no reader looks into
//! (`regression`, `shards`, `histogram_encoding`) included; those few are
//! kept as JSON values because their types belong to the layers above,
//! which write them.
//!
//! The document is written through a [`serde_json::Value`], whose object
//! keys are sorted, so field order here does not change the bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::measure::{FailureReason, Model, StartReport};
use crate::provenance::Provenance;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub format: String,
    #[serde(default)]
    pub tool: Tool,
    pub run: Run,
    #[serde(default)]
    pub histogram_encoding: Value,
    pub requests: BTreeMap<String, NameFigures>,
    #[serde(default)]
    pub all: Option<NameFigures>,
    #[serde(default)]
    pub server: Option<Server>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub slo: Slo,
    #[serde(default)]
    pub regression: Option<Value>,
    #[serde(default)]
    pub history: Option<HistoryRef>,
    #[serde(default)]
    pub passed: bool,
    #[serde(default)]
    pub shard: Option<ShardDoc>,
    #[serde(default)]
    pub shards: Option<Value>,
    #[serde(default)]
    pub generator: Option<Generator>,
    #[serde(default)]
    pub files: Files,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    pub target: String,
    #[serde(default)]
    pub target_local: bool,
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub deploy_id: Option<String>,
    #[serde(default)]
    pub provenance: Provenance,
    pub model: Model,
    #[serde(default)]
    pub users: u32,
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub ramp_s: f64,
    pub duration_s: f64,
    #[serde(default)]
    pub max_requests: Option<u64>,
    #[serde(default)]
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub scenarios: Vec<ScenarioRef>,
    #[serde(with = "millis")]
    pub started_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "millis")]
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub elapsed_s: f64,
    /// A [`crate::measure::StopReason::key`]; v1 documents may lack it.
    #[serde(default = "duration_key")]
    pub stopped_by: String,
    #[serde(default)]
    pub teardown_abandoned: bool,
}

fn duration_key() -> String {
    "duration".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// One request name's figures (or, under `all`, every name's together).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NameFigures {
    pub count: u64,
    pub responses: u64,
    pub failed: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_rate: f64,
    pub rps: f64,
    pub latency_ms: Latency,
    /// Base64 HdrHistogram V2-DEFLATE (see [`crate::measure::codec`]).
    pub histogram: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The name's tag in `latency.hlog`; null under `all`, whose lines are
    /// the untagged ones.
    pub hlog_tag: Option<String>,
    pub hgrm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<FailureReason>>,
}

/// Milliseconds; all null when nothing completed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub stdev: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    pub total_requests: f64,
    pub total_5xx: f64,
    pub routes: Vec<ServerRoute>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerRoute {
    pub method: String,
    pub route: String,
    pub requests: f64,
    pub errors_5xx: f64,
    pub p95_ms: Option<f64>,
}

/// The open model's schedule (null in the closed model).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    pub offered_rate: f64,
    pub delivered_rate: f64,
    pub offered: u64,
    pub delivered: u64,
    pub window_s: f64,
    pub lateness_us: Lateness,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Lateness {
    pub p50: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
    pub histogram: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Slo {
    pub passed: bool,
    pub results: Vec<SloResultDoc>,
}

/// One objective's outcome as the document keeps it
/// ([`crate::verdict::SloResult`] writes it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SloResultDoc {
    pub scope: String,
    pub metric: String,
    pub op: String,
    pub threshold: f64,
    pub actual: Option<f64>,
    pub unit: String,
    pub passed: bool,
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRef {
    pub location: String,
    pub run_id: i64,
}

/// A shard's identity, where it started, and its metrics scrapes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardDoc {
    #[serde(flatten)]
    pub ident: super::ShardIdentity,
    #[serde(default)]
    pub start: Option<StartReport>,
    #[serde(default)]
    pub scrapes: Option<Scrapes>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scrapes {
    pub before: String,
    #[serde(with = "millis")]
    pub before_at: chrono::DateTime<chrono::Utc>,
    pub after: String,
    #[serde(with = "millis")]
    pub after_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Generator {
    pub cpu_s: f64,
    pub cores: usize,
    pub cpu_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Files {
    pub summary: String,
    pub hlog: String,
    pub junit: String,
    pub html: String,
}

impl Default for Files {
    fn default() -> Self {
        Files {
            summary: super::SUMMARY_FILE.into(),
            hlog: super::HLOG_FILE.into(),
            junit: super::JUNIT_FILE.into(),
            html: super::HTML_FILE.into(),
        }
    }
}

/// Why a document could not be read; the caller adds which file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not a postdeploy load summary (format {found:?}; expected one of {expected:?})")]
    Format {
        found: String,
        expected: &'static [&'static str],
    },
    #[error("{0}")]
    Shape(serde_json::Error),
}

impl Summary {
    /// Reads a document of any format in [`super::FORMATS`].
    pub fn parse(text: &str) -> Result<Summary, ReadError> {
        Summary::parse_as(text, super::FORMATS)
    }

    /// Reads a document of one of `formats` (`merge` reads only the
    /// current one: v1 runs have no shard identity).
    pub fn parse_as(text: &str, formats: &'static [&'static str]) -> Result<Summary, ReadError> {
        let doc: Value = serde_json::from_str(text).map_err(ReadError::NotJson)?;
        let format = doc["format"].as_str().unwrap_or("");
        if !formats.contains(&format) {
            return Err(ReadError::Format {
                found: format.to_string(),
                expected: formats,
            });
        }
        serde_json::from_value(doc).map_err(ReadError::Shape)
    }

    /// The bytes of `summary.json`, with `redact` applied to the document
    /// first (secrets are masked everywhere but in histograms).
    pub fn to_json(&self, redact: impl FnOnce(&mut Value)) -> serde_json::Result<Vec<u8>> {
        let mut v = serde_json::to_value(self)?;
        redact(&mut v);
        serde_json::to_vec_pretty(&v)
    }
}

/// RFC 3339 with milliseconds and `Z`, as every report writes times.
mod millis {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        t: &chrono::DateTime<chrono::Utc>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<chrono::DateTime<chrono::Utc>, D::Error> {
        let s = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| serde::de::Error::custom(format!("{s:?} is not RFC 3339: {e}")))
    }
}
