//! Storing runs: each in one transaction, written once whatever the engine.

use std::collections::BTreeMap;

use super::read::StoredMeta;
use super::{Engine, HistoryError, Store};
use crate::record::fingerprint::Fingerprint;
use crate::record::{LoadRecord, NameRecord, RunMeta, VerifyRecord, encode, encode_blocks};

fn ts(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Inserts a run's row inside transaction `$tx` (either engine); a run of
/// the same uid already there is returned as it is.
macro_rules! insert_run {
    ($tx:ident, $m:expr, $fp:expr, $duration_s:expr, $meta:expr) => {{
        async {
            let m: &RunMeta = $m;
            let fp: &Fingerprint = $fp;
            let existing: Option<(i64,)> = sqlx::query_as("SELECT id FROM runs WHERE uid = $1")
                .bind(&m.uid)
                .fetch_optional(&mut *$tx)
                .await?;
            if let Some((id,)) = existing {
                return Ok::<_, sqlx::Error>(Inserted::Existing(id));
            }
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO runs (uid, kind, fingerprint, scope, target, env, started_at, ended_at, duration_s, \
                 git_commit, deploy_id, run_url, tool_version, stopped_by, passed, regressed, accepted, meta) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING id",
            )
            .bind(&m.uid)
            .bind(m.kind.key())
            .bind(fp.key())
            .bind(&fp.scope)
            .bind(&m.target)
            .bind(&m.env)
            .bind(ts(&m.started_at))
            .bind(ts(&m.ended_at))
            .bind($duration_s)
            .bind(&m.provenance.commit)
            .bind(&m.provenance.deploy_id)
            .bind(&m.provenance.run_url)
            .bind(&m.tool_version)
            .bind(&m.stopped_by)
            .bind(m.passed)
            .bind(m.regressed)
            .bind(m.accepted())
            .bind($meta)
            .fetch_one(&mut *$tx)
            .await?;
            Ok(Inserted::New(id))
        }
        .await
    }};
}

enum Inserted {
    New(i64),
    Existing(i64),
}
impl Store {
    /// Stores a load run in one transaction; returns its id. A run already
    /// stored (same uid) is not stored twice.
    pub async fn insert_load(&self, r: &LoadRecord) -> Result<i64, HistoryError> {
        let doc = StoredMeta {
            meta: r.meta.clone(),
            fingerprint: r.fingerprint.clone(),
            elapsed_s: r.elapsed_s,
            block_secs: r.block_secs,
            slos: r.slos.clone(),
            regress: r.regress.clone(),
        };
        let meta = serde_json::to_string(&doc).map_err(|e| self.classify(e.to_string()))?;
        let rows: Vec<(String, NameRecord)> = r
            .names
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let encoded: Vec<_> = rows
            .iter()
            .map(|(name, n)| {
                (
                    name.clone(),
                    n.count as i64,
                    n.failed as i64,
                    serde_json::to_string(&n.errors).unwrap_or_else(|_| "{}".into()),
                    n.quantile_ms(0.50),
                    n.quantile_ms(0.95),
                    n.quantile_ms(0.99),
                    encode(&n.histogram),
                    encode_blocks(&n.blocks),
                )
            })
            .collect();
        let fp = &r.fingerprint;
        let m = &r.meta;
        let block_secs = i64::from(r.block_secs);
        on_pool!(self, |p, begin| {
            let mut tx = p.begin_with(begin).await.map_err(self.err())?;
            let id = insert_run!(tx, m, fp, fp.duration_s, &meta);
            let id = match id.map_err(self.err())? {
                Inserted::New(id) => id,
                Inserted::Existing(id) => return Ok(id),
            };
            for (name, count, failed, errors, p50, p95, p99, hist, blocks) in &encoded {
                sqlx::query(
                    "INSERT INTO run_requests (run_id, name, count, failed, errors, p50_ms, p95_ms, p99_ms, histogram, block_secs, blocks) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(id)
                .bind(name)
                .bind(count)
                .bind(failed)
                .bind(errors)
                .bind(p50)
                .bind(p95)
                .bind(p99)
                .bind(hist)
                .bind(block_secs)
                .bind(blocks)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            }
            tx.commit().await.map_err(self.err())?;
            Ok(id)
        })
    }

    /// Stores a verify run in one transaction; returns its id.
    pub async fn insert_verify(&self, r: &VerifyRecord) -> Result<i64, HistoryError> {
        let doc = StoredMeta {
            meta: r.meta.clone(),
            fingerprint: r.fingerprint.clone(),
            elapsed_s: (r.meta.ended_at - r.meta.started_at).num_milliseconds() as f64 / 1000.0,
            block_secs: 0,
            slos: Vec::new(),
            regress: BTreeMap::new(),
        };
        let meta = serde_json::to_string(&doc).map_err(|e| self.classify(e.to_string()))?;
        let fp = &r.fingerprint;
        let m = &r.meta;
        on_pool!(self, |p, begin| {
            let mut tx = p.begin_with(begin).await.map_err(self.err())?;
            let id = match insert_run!(tx, m, fp, doc.elapsed_s, &meta).map_err(self.err())? {
                Inserted::New(id) => id,
                Inserted::Existing(id) => return Ok(id),
            };
            for (i, s) in r.steps.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO verify_steps (run_id, position, scenario, name, latency_ms, budget_ms, verdict) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(i as i64)
                .bind(&s.scenario)
                .bind(&s.name)
                .bind(s.latency_ms)
                .bind(s.budget_ms)
                .bind(&s.verdict)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            }
            tx.commit().await.map_err(self.err())?;
            Ok(id)
        })
    }

    /// Keeps the newest `keep` runs of each fingerprint; returns how many
    /// were deleted.
    pub async fn prune(&self, keep: usize) -> Result<u64, HistoryError> {
        let keep = keep as i64;
        on_pool!(self, |p, begin| {
            let mut tx = p.begin_with(begin).await.map_err(self.err())?;
            // Children first: no reliance on the engine's cascade setting.
            // Each statement's subquery picks the runs beyond the newest
            // `keep` of their kind and fingerprint; the last count is the
            // runs'.
            let mut n = 0;
            for sql in [
                "DELETE FROM run_requests WHERE run_id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
                "DELETE FROM verify_steps WHERE run_id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
                "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
            ] {
                n = sqlx::query(sql)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?
                    .rows_affected();
            }
            tx.commit().await.map_err(self.err())?;
            Ok(n)
        })
    }
}
