//! One run as the history keeps it, whatever it came from: a load run just
//! measured, a row of the store, or a report directory on disk. The
//! regression gate reads only this type, so `compare` gives the same
//! verdict on two stored runs as on their `summary.json` files.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub mod fingerprint;

use crate::measure::Sparse;
pub use crate::measure::codec::{decode, decode_blocks, encode, encode_blocks};
use crate::measure::{Measurements, Settings, StopReason};
pub use fingerprint::Fingerprint;

/// Interval histograms are coarsened to at most this many blocks per run:
/// a one-hour run keeps 30-second blocks, enough for a block bootstrap
/// (which needs blocks of ≥ 5 s anyway) and small enough that 20 request
/// names stay a few MB in the store.
pub const MAX_BLOCKS: u64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Load,
    Verify,
}

impl RunKind {
    pub fn key(self) -> &'static str {
        match self {
            RunKind::Load => "load",
            RunKind::Verify => "verify",
        }
    }
}

/// What identifies a run for people and baselines (not its measurements).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    /// Store id; None until stored (or for a run read from files).
    #[serde(skip)]
    pub id: Option<i64>,
    /// Stable across stores: the same run imported twice is one run.
    pub uid: String,
    pub kind: RunKind,
    pub target: String,
    pub target_local: bool,
    pub env: Option<String>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ended_at: chrono::DateTime<chrono::Utc>,
    pub tool_version: String,
    pub provenance: crate::provenance::Provenance,
    pub stopped_by: String,
    /// The run's own verdict: SLOs (load) or steps (verify).
    pub passed: bool,
    /// The regression gate said `regressed` (never for verify runs).
    pub regressed: bool,
    /// What regressed, as `request name metric` (for the trend page).
    #[serde(default)]
    pub regressions: Vec<String>,
}

impl RunMeta {
    /// Baselines are drawn only from accepted runs: a run that failed its
    /// SLOs, regressed or was interrupted must not become the yardstick
    /// that lets the next bad deploy through.
    pub fn accepted(&self) -> bool {
        self.passed && !self.regressed && self.stop().is_some_and(StopReason::covered_plan)
    }

    /// What stopped the run; `stopped_by` stays text because it is stored
    /// as text, and is read back here, once, for every decision on it.
    pub fn stop(&self) -> Option<StopReason> {
        StopReason::from_key(&self.stopped_by)
    }

    /// The x-axis label of a run: its deploy id, else its short commit,
    /// else its store id.
    pub fn label(&self) -> String {
        if let Some(d) = &self.provenance.deploy_id {
            return d.clone();
        }
        if let Some(c) = &self.provenance.commit {
            return c.chars().take(8).collect();
        }
        match self.id {
            Some(id) => format!("#{id}"),
            None => self.started_at.format("%m-%d %H:%M").to_string(),
        }
    }
}

/// A load run: the gate's input.
#[derive(Debug, Clone)]
pub struct LoadRecord {
    pub meta: RunMeta,
    pub fingerprint: Fingerprint,
    pub elapsed_s: f64,
    /// Seconds per block of [`NameRecord::blocks`].
    pub block_secs: u32,
    pub names: BTreeMap<String, NameRecord>,
    /// The objectives the run was judged against, for trend lines.
    pub slos: Vec<SloLine>,
    /// Its scenarios' `regress:` tolerances (see `Settings::regress`).
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
}

/// A latency objective as the trend page draws it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloLine {
    pub scope: String,
    pub metric: String,
    pub threshold_ms: f64,
    pub passed: bool,
}

#[derive(Debug, Clone)]
pub struct NameRecord {
    /// Requests attempted.
    pub count: u64,
    /// Requests that failed (any reason, each once).
    pub failed: u64,
    pub errors: BTreeMap<String, u64>,
    /// Every completed response's latency (µs).
    pub histogram: Histogram<u64>,
    /// The same latencies by consecutive block of `block_secs` seconds from
    /// the run's start; empty blocks included, since a second without
    /// responses is data too. Sparse: an hour of 20 names is 2,400 blocks.
    pub blocks: Vec<Sparse>,
}

impl NameRecord {
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        crate::measure::quantile_ms(&self.histogram, q)
    }
}

/// A verify run: step latencies and verdicts, for the trend page.
#[derive(Debug, Clone)]
pub struct VerifyRecord {
    pub meta: RunMeta,
    pub fingerprint: Fingerprint,
    pub steps: Vec<StepRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub scenario: String,
    pub name: String,
    pub latency_ms: Option<f64>,
    pub budget_ms: Option<f64>,
    /// `passed`, `failed`, `skipped`, ...
    pub verdict: String,
}

impl VerifyRecord {
    /// The record of a verify run just judged.
    pub fn from_report(report: &crate::outcome::RunReport, env: Option<&str>) -> VerifyRecord {
        let started_at = chrono::DateTime::parse_from_rfc3339(&report.started_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|_| chrono::Utc::now());
        let ended_at =
            started_at + chrono::Duration::milliseconds(report.duration_ms.max(0.0) as i64);
        let steps = report
            .scenarios
            .iter()
            .flat_map(|sc| {
                sc.steps.iter().map(move |st| StepRecord {
                    scenario: sc.name.clone(),
                    name: st.name.clone(),
                    latency_ms: st.latency_ms,
                    budget_ms: st.budget_ms,
                    verdict: st.verdict.key().to_string(),
                })
            })
            .collect();
        let mut r = VerifyRecord {
            meta: RunMeta {
                id: None,
                uid: uuid::Uuid::new_v4().to_string(),
                kind: RunKind::Verify,
                target: report.target.clone(),
                target_local: report.target_local,
                env: env.map(str::to_string),
                started_at,
                ended_at,
                tool_version: report.tool_version.to_string(),
                provenance: report.provenance.clone(),
                stopped_by: report
                    .stopped_by
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|| "duration".into()),
                passed: report.passed,
                regressed: false,
                regressions: Vec::new(),
            },
            fingerprint: Fingerprint::of_verify(
                &report.target,
                report.target_local,
                env,
                report
                    .scenarios
                    .iter()
                    .map(|s| (s.name.clone(), s.sha256.clone())),
            ),
            steps,
        };
        r.meta.redact();
        for s in &mut r.steps {
            s.scenario = crate::secrets::redact(&s.scenario).into_owned();
            s.name = crate::secrets::redact(&s.name).into_owned();
        }
        r
    }
}

impl RunMeta {
    /// The store is an artifact like any report: no secret goes in.
    pub fn redact(&mut self) {
        let r = |s: &mut String| *s = crate::secrets::redact(s).into_owned();
        r(&mut self.target);
        if let Some(e) = &mut self.env {
            r(e);
        }
        let p = &mut self.provenance;
        for s in [
            &mut p.ci,
            &mut p.commit,
            &mut p.branch,
            &mut p.run_url,
            &mut p.deploy_id,
            &mut p.tf_workspace,
        ]
        .into_iter()
        .flatten()
        {
            r(s);
        }
        for v in p.labels.values_mut() {
            r(v);
        }
    }
}

/// Block length for a run of `elapsed_s` seconds: whole seconds, so that
/// per-second intervals fall into blocks without being split.
pub fn block_secs(elapsed_s: f64) -> u32 {
    let secs = elapsed_s.max(1.0).ceil() as u64;
    secs.div_ceil(MAX_BLOCKS).max(1) as u32
}

/// Number of blocks a run of `elapsed_s` seconds has.
pub fn block_count(elapsed_s: f64, block_secs: u32) -> usize {
    let secs = elapsed_s.max(1.0).ceil() as u64;
    secs.div_ceil(u64::from(block_secs)).max(1) as usize
}

/// Adds one interval (starting `start` after the run's start) into its
/// block. Interval starts are whole seconds (the monitor ticks on them),
/// so the block is exact; anything past the last block joins the last.
pub fn add_to_blocks(blocks: &mut [Sparse], block_secs: u32, start: Duration, h: &Sparse) {
    if blocks.is_empty() || h.is_empty() {
        return;
    }
    let i = (start.as_secs() / u64::from(block_secs)) as usize;
    let i = i.min(blocks.len() - 1);
    blocks[i].add(h);
}

impl LoadRecord {
    /// The record of a run just measured, with its final outcome: whether
    /// it passed, and (when a baseline was compared) whether it regressed
    /// and what. The gate judges the measured record; this is the one the
    /// history keeps.
    pub fn judged(mut self, passed: bool, regression: Option<(bool, Vec<String>)>) -> LoadRecord {
        self.meta.passed = passed;
        if let Some((regressed, labels)) = regression {
            self.meta.regressed = regressed;
            self.meta.regressions = labels;
        }
        self
    }

    /// The record of a run just measured (`passed`: its objectives held).
    pub fn from_run(
        settings: &Settings,
        m: &Measurements,
        passed: bool,
        slos: Vec<SloLine>,
        provenance: &crate::provenance::Provenance,
        env: Option<&str>,
        mut blocks: BTreeMap<String, Vec<Sparse>>,
    ) -> LoadRecord {
        let elapsed_s = m.elapsed.as_secs_f64();
        let bs = block_secs(elapsed_s);
        let n = block_count(elapsed_s, bs);
        let mut names = BTreeMap::new();
        for (name, r) in &m.requests {
            names.insert(
                crate::secrets::redact(name).into_owned(),
                NameRecord {
                    count: r.count,
                    failed: r.error_count(),
                    errors: r.errors.clone(),
                    histogram: r.histogram.clone(),
                    blocks: blocks
                        .remove(name)
                        .filter(|b| b.len() == n)
                        .unwrap_or_else(|| vec![Sparse::default(); n]),
                },
            );
        }
        let mut rec = LoadRecord {
            meta: RunMeta {
                id: None,
                uid: uuid::Uuid::new_v4().to_string(),
                kind: RunKind::Load,
                target: settings.target.clone(),
                target_local: settings.target_local,
                env: env.map(str::to_string),
                started_at: m.started_at,
                ended_at: m.ended_at,
                tool_version: env!("CARGO_PKG_VERSION").into(),
                provenance: provenance.clone(),
                stopped_by: m.stopped_by.key().into(),
                passed,
                regressed: false,
                regressions: Vec::new(),
            },
            fingerprint: Fingerprint::of_load(settings, env),
            elapsed_s,
            block_secs: bs,
            names,
            slos,
            regress: settings.regress.clone(),
        };
        rec.meta.redact();
        rec.fingerprint.scope = crate::secrets::redact(&rec.fingerprint.scope).into_owned();
        rec
    }
}
