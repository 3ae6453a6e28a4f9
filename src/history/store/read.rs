//! Reading runs back: lists, single runs with their histograms, baseline
//! candidates and the trend page's points.

use std::collections::BTreeMap;

use super::{Engine, HistoryError, Store};
use crate::record::fingerprint::Fingerprint;
use crate::record::{
    LoadRecord, NameRecord, RunKind, RunMeta, SloLine, StepRecord, decode, decode_blocks,
};

/// One stored run, without its histograms: what lists and pages need.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub kind: RunKind,
    pub fingerprint: String,
    pub accepted: bool,
    pub doc: StoredMeta,
}

/// The `meta` column: everything about a run but its histograms.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredMeta {
    pub meta: RunMeta,
    pub fingerprint: Fingerprint,
    #[serde(default)]
    pub elapsed_s: f64,
    #[serde(default)]
    pub block_secs: u32,
    #[serde(default)]
    pub slos: Vec<SloLine>,
    #[serde(default)]
    pub regress: BTreeMap<String, BTreeMap<String, String>>,
}

/// Per request name of a run, for the trend page.
#[derive(Debug, Clone)]
pub struct NamePoint {
    pub run_id: i64,
    pub name: String,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Per verify step of a run, for the trend page.
#[derive(Debug, Clone)]
pub struct StepPoint {
    pub run_id: i64,
    pub step: StepRecord,
}

#[derive(Debug, Clone, Copy)]
pub enum ByColumn {
    Commit,
    Deploy,
}
/// A `runs` row as lists and single-run reads select it: id, kind,
/// fingerprint, accepted, meta.
type RunColumns = (i64, String, String, bool, String);

impl Store {
    /// Runs, newest first.
    pub async fn list(
        &self,
        kind: Option<RunKind>,
        fingerprint: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, HistoryError> {
        let kind = kind.map(RunKind::key);
        let rows: Vec<RunColumns> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT id, kind, fingerprint, accepted, meta FROM runs \
                 WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1) AND (CAST($2 AS TEXT) IS NULL OR fingerprint = $2) \
                 ORDER BY started_at DESC, id DESC LIMIT $3",
            )
            .bind(kind)
            .bind(fingerprint)
            .bind(limit)
            .fetch_all(p)
            .await
            .map_err(self.err())?
        });
        rows.into_iter()
            .map(|(id, kind, fingerprint, accepted, meta)| {
                self.run_row(id, &kind, fingerprint, accepted, &meta)
            })
            .collect()
    }

    fn run_row(
        &self,
        id: i64,
        kind: &str,
        fingerprint: String,
        accepted: bool,
        meta: &str,
    ) -> Result<RunRow, HistoryError> {
        let mut doc: StoredMeta = serde_json::from_str(meta)
            .map_err(|e| self.classify(format!("run {id}: unreadable metadata: {e}")))?;
        doc.meta.id = Some(id);
        Ok(RunRow {
            id,
            kind: if kind == "verify" {
                RunKind::Verify
            } else {
                RunKind::Load
            },
            fingerprint,
            accepted,
            doc,
        })
    }

    pub async fn row(&self, id: i64) -> Result<RunRow, HistoryError> {
        let found: Option<RunColumns> = on_pool!(self, |p| {
            sqlx::query_as("SELECT id, kind, fingerprint, accepted, meta FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .map_err(self.err())?
        });
        let (_, kind, fp, acc, meta) = found.ok_or_else(|| {
            HistoryError::NotFound(format!(
                "no run {id} in the history store {}",
                self.location
            ))
        })?;
        self.run_row(id, &kind, fp, acc, &meta)
    }

    /// A stored load run with its histograms.
    pub async fn load_run(&self, id: i64) -> Result<LoadRecord, HistoryError> {
        let row = self.row(id).await?;
        if row.kind != RunKind::Load {
            return Err(HistoryError::NotFound(format!(
                "run {id} is a verify run; only load runs can be compared"
            )));
        }
        let raw: Vec<(String, i64, i64, String, String, String)> = on_pool!(self, |p| {
            sqlx::query_as(
                "SELECT name, count, failed, errors, histogram, blocks FROM run_requests WHERE run_id = $1 ORDER BY name",
            )
            .bind(id)
            .fetch_all(p)
            .await
            .map_err(self.err())?
        });
        let mut names = BTreeMap::new();
        for (name, count, failed, errors, hist, blocks) in raw {
            let bad = |e: String| self.classify(format!("run {id}, {name:?}: {e}"));
            names.insert(
                name.clone(),
                NameRecord {
                    count: count.max(0) as u64,
                    failed: failed.max(0) as u64,
                    errors: serde_json::from_str(&errors).unwrap_or_default(),
                    histogram: decode(&hist).map_err(bad)?,
                    blocks: decode_blocks(&blocks).map_err(bad)?,
                },
            );
        }
        let doc = row.doc;
        Ok(LoadRecord {
            meta: doc.meta,
            fingerprint: doc.fingerprint,
            elapsed_s: doc.elapsed_s,
            block_secs: doc.block_secs.max(1),
            names,
            slos: doc.slos,
            regress: doc.regress,
        })
    }

    /// The newest load run of a commit (prefix) or deploy id.
    pub async fn find_by(&self, column: ByColumn, value: &str) -> Result<i64, HistoryError> {
        let sql = match column {
            ByColumn::Commit => {
                "SELECT id FROM runs WHERE kind = 'load' AND git_commit LIKE $1 ORDER BY started_at DESC, id DESC LIMIT 1"
            }
            ByColumn::Deploy => {
                "SELECT id FROM runs WHERE kind = 'load' AND deploy_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1"
            }
        };
        let pattern = match column {
            ByColumn::Commit => format!("{}%", value.replace(['%', '_'], "")),
            ByColumn::Deploy => value.to_string(),
        };
        let id: Option<i64> = on_pool!(self, |p| {
            sqlx::query_scalar(sql)
                .bind(&pattern)
                .fetch_optional(p)
                .await
                .map_err(self.err())?
        });
        id.ok_or_else(|| {
            HistoryError::NotFound(format!(
                "no load run with {} {value:?} in the history store {}",
                match column {
                    ByColumn::Commit => "commit",
                    ByColumn::Deploy => "deploy id",
                },
                self.location
            ))
        })
    }

    /// Ids of the last `k` accepted load runs comparable with `fp`, newest
    /// first, leaving out `except` (the run being judged).
    pub async fn baseline_ids(
        &self,
        fp: &Fingerprint,
        k: usize,
        except: Option<i64>,
    ) -> Result<Vec<i64>, HistoryError> {
        let key = fp.key();
        let candidates: Vec<(i64, f64)> = on_pool!(self, |p| {
            sqlx::query_as::<_, (i64, f64)>(
                "SELECT id, duration_s FROM runs WHERE kind = 'load' AND fingerprint = $1 AND accepted \
                 ORDER BY started_at DESC, id DESC LIMIT 1000",
            )
            .bind(&key)
            .fetch_all(p)
            .await
            .map_err(self.err())?
        });
        Ok(candidates
            .into_iter()
            .filter(|(id, _)| Some(*id) != except)
            .filter(|(_, d)| crate::record::fingerprint::durations_agree(*d, fp.duration_s))
            .map(|(id, _)| id)
            .take(k)
            .collect())
    }

    /// Percentiles of every request name of every load run, oldest run
    /// first: the trend page's data, without decoding one histogram.
    pub async fn name_points(&self) -> Result<Vec<NamePoint>, HistoryError> {
        Ok(on_pool!(self, |p| {
            sqlx::query_as::<_, (i64, String, Option<f64>, Option<f64>, Option<f64>)>(
                "SELECT q.run_id, q.name, q.p50_ms, q.p95_ms, q.p99_ms FROM run_requests q \
                 JOIN runs r ON r.id = q.run_id ORDER BY r.started_at, r.id, q.name",
            )
            .fetch_all(p)
            .await
            .map_err(self.err())?
        })
        .into_iter()
        .map(|(run_id, name, p50_ms, p95_ms, p99_ms)| NamePoint {
            run_id,
            name,
            p50_ms,
            p95_ms,
            p99_ms,
        })
        .collect())
    }

    /// Every verify step of every verify run, oldest run first.
    pub async fn step_points(&self) -> Result<Vec<StepPoint>, HistoryError> {
        Ok(on_pool!(self, |p| {
            sqlx::query_as::<_, (i64, String, String, Option<f64>, Option<f64>, String)>(
                "SELECT s.run_id, s.scenario, s.name, s.latency_ms, s.budget_ms, s.verdict FROM verify_steps s \
                 JOIN runs r ON r.id = s.run_id ORDER BY r.started_at, r.id, s.position",
            )
            .fetch_all(p)
            .await
            .map_err(self.err())?
        })
        .into_iter()
        .map(
            |(run_id, scenario, name, latency_ms, budget_ms, verdict)| StepPoint {
                run_id,
                step: StepRecord {
                    scenario,
                    name,
                    latency_ms,
                    budget_ms,
                    verdict,
                },
            },
        )
        .collect())
    }
}
