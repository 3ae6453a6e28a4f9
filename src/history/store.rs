//! The history store: one schema, two engines. SQLite (the default, a file
//! beside the reports) for one machine; PostgreSQL for teams whose
//! pipelines share one history. Each engine has its own migrations of the
//! same shape, as the backend's store does, and every query below is
//! written once and run on whichever pool is open.
//!
//! Safety rules: a run is written in one transaction, so two pipelines
//! writing at once both land (SQLite in WAL mode with a busy timeout;
//! PostgreSQL's own locking); a store migrated by a newer postdeploy is
//! refused, not downgraded; a file that is not a SQLite database is
//! reported and left exactly as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Row, migrate::MigrateError};

use crate::record::fingerprint::Fingerprint;
use crate::record::{
    LoadRecord, NameRecord, RunKind, RunMeta, SloLine, StepRecord, VerifyRecord, decode,
    decode_blocks, encode, encode_blocks,
};

/// Default location: beside the reports, so a plain `postdeploy load`
/// keeps history without any flag.
pub const DEFAULT_PATH: &str = "reports/history.sqlite";
/// PostgreSQL schema holding the history (and its migrations table), so it
/// never mixes with an application's own tables in a shared database.
pub const PG_SCHEMA: &str = "postdeploy_history";
/// How long a writer waits for another one (two pipelines at once).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(s: &str) -> Location {
        let t = s.trim();
        if t.starts_with("postgres://") || t.starts_with("postgresql://") {
            Location::Postgres(t.to_string())
        } else {
            Location::Sqlite(PathBuf::from(t.strip_prefix("sqlite://").unwrap_or(t)))
        }
    }

    /// For messages: the password of a URL is never shown.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(u) => match url::Url::parse(u) {
                Ok(mut url) => {
                    if url.password().is_some() {
                        let _ = url.set_password(Some("***"));
                    }
                    url.to_string()
                }
                Err(_) => "postgres://…".into(),
            },
        }
    }
}

/// What callers act on: a corrupt or newer store is the user's to fix
/// (exit 2); an unreachable one may be retried.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "the history store {location} is not a readable SQLite database ({detail}); it was left untouched: move it aside or pass another --history"
    )]
    Corrupt { location: String, detail: String },
    #[error(
        "the history store {location} was written by a newer postdeploy (schema version {version}); upgrade postdeploy or use another --history"
    )]
    Newer { location: String, version: i64 },
    #[error("the history store {location} cannot be opened: {detail}")]
    Unavailable { location: String, detail: String },
    #[error("history store {location}: {detail}")]
    Query { location: String, detail: String },
    #[error("{0}")]
    NotFound(String),
}

#[derive(Clone)]
enum Engine {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone)]
pub struct Store {
    engine: Engine,
    location: String,
}

/// Runs `$body` with `$p` bound to whichever pool is open; the SQL inside
/// is the same for both engines.
macro_rules! on_pool {
    ($self:expr, |$p:ident| $body:expr) => {
        match &$self.engine {
            Engine::Sqlite($p) => $body,
            Engine::Postgres($p) => $body,
        }
    };
    // `$begin` starts a write transaction. SQLite's must be IMMEDIATE: a
    // deferred one that reads first cannot upgrade to a writer once another
    // connection has written (SQLITE_BUSY_SNAPSHOT, never retried by the
    // busy timeout), and one of two concurrent runs would be lost.
    ($self:expr, |$p:ident, $begin:ident| $body:expr) => {
        match &$self.engine {
            Engine::Sqlite($p) => {
                let $begin = "BEGIN IMMEDIATE";
                $body
            }
            Engine::Postgres($p) => {
                let $begin = "BEGIN";
                $body
            }
        }
    };
}

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

impl Store {
    pub async fn open(loc: &Location) -> Result<Store, HistoryError> {
        let location = loc.describe();
        let unavailable = |detail: String| HistoryError::Unavailable {
            location: location.clone(),
            detail,
        };
        let engine = match loc {
            Location::Sqlite(path) => Engine::Sqlite(open_sqlite(path, &location).await?),
            Location::Postgres(url) => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| unavailable(format!("bad URL: {e}")))?
                    .options([("search_path", PG_SCHEMA)]);
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                Engine::Postgres(pool)
            }
        };
        let store = Store { engine, location };
        store.migrate().await?;
        Ok(store)
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    async fn migrate(&self) -> Result<(), HistoryError> {
        let result = match &self.engine {
            Engine::Sqlite(p) => {
                // SQLite's migrator takes no lock: two processes creating
                // the same new file race. The loser finds the tables made
                // and, on retry, nothing left to apply.
                let started = std::time::Instant::now();
                let mut attempt = 0u64;
                loop {
                    attempt += 1;
                    let r = sqlx::migrate!("./migrations/history/sqlite").run(p).await;
                    let retry = match &r {
                        Ok(()) | Err(MigrateError::VersionMissing(_)) => false,
                        Err(MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _)) => {
                            is_busy(e) || attempt < 5
                        }
                        Err(_) => attempt < 5,
                    };
                    if !retry || started.elapsed() >= BUSY_TIMEOUT {
                        break r;
                    }
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10))).await;
                }
            }
            Engine::Postgres(p) => {
                let mut m = sqlx::migrate!("./migrations/history/postgres");
                m.create_schema(PG_SCHEMA);
                m.run(p).await
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(MigrateError::VersionMissing(version)) => Err(HistoryError::Newer {
                location: self.location.clone(),
                version,
            }),
            Err(e) => Err(self.classify(e.to_string())),
        }
    }

    fn classify(&self, detail: String) -> HistoryError {
        if is_corruption(&detail) {
            HistoryError::Corrupt {
                location: self.location.clone(),
                detail,
            }
        } else {
            HistoryError::Query {
                location: self.location.clone(),
                detail,
            }
        }
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> HistoryError + '_ {
        move |e| self.classify(e.to_string())
    }

    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }

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

    /// Runs, newest first.
    pub async fn list(
        &self,
        kind: Option<RunKind>,
        fingerprint: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, HistoryError> {
        let kind = kind.map(RunKind::key);
        let rows = on_pool!(self, |p| {
            sqlx::query(
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
            .iter()
            .map(|r| {
                Ok::<_, sqlx::Error>((
                    r.try_get::<i64, _>("id")?,
                    r.try_get::<String, _>("kind")?,
                    r.try_get::<String, _>("fingerprint")?,
                    r.try_get::<bool, _>("accepted")?,
                    r.try_get::<String, _>("meta")?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()
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
        let found = on_pool!(self, |p| {
            sqlx::query("SELECT id, kind, fingerprint, accepted, meta FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .map_err(self.err())?
                .map(|r| {
                    Ok::<_, sqlx::Error>((
                        r.try_get::<String, _>("kind")?,
                        r.try_get::<String, _>("fingerprint")?,
                        r.try_get::<bool, _>("accepted")?,
                        r.try_get::<String, _>("meta")?,
                    ))
                })
                .transpose()
                .map_err(self.err())?
        });
        let (kind, fp, acc, meta) = found.ok_or_else(|| {
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
        let raw = on_pool!(self, |p| {
            sqlx::query(
                "SELECT name, count, failed, errors, histogram, blocks FROM run_requests WHERE run_id = $1 ORDER BY name",
            )
            .bind(id)
            .fetch_all(p)
            .await
            .map_err(self.err())?
            .iter()
            .map(|r| {
                Ok::<_, sqlx::Error>((
                    r.try_get::<String, _>("name")?,
                    r.try_get::<i64, _>("count")?,
                    r.try_get::<i64, _>("failed")?,
                    r.try_get::<String, _>("errors")?,
                    r.try_get::<String, _>("histogram")?,
                    r.try_get::<String, _>("blocks")?,
                ))
            })
            .collect::<Result<Vec<_>, _>>()
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

    /// Keeps the newest `keep` runs of each fingerprint; returns how many
    /// were deleted.
    pub async fn prune(&self, keep: usize) -> Result<u64, HistoryError> {
        let keep = keep as i64;
        on_pool!(self, |p, begin| {
            let mut tx = p.begin_with(begin).await.map_err(self.err())?;
            // Children first: no reliance on the engine's cascade setting.
            sqlx::query(
                "DELETE FROM run_requests WHERE run_id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
            )
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
            sqlx::query(
                "DELETE FROM verify_steps WHERE run_id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
            )
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
            let n = sqlx::query(
                "DELETE FROM runs WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY kind, fingerprint ORDER BY started_at DESC, id DESC) AS rn FROM runs) ranked WHERE rn > $1)",
            )
            .bind(keep)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?
            .rows_affected();
            tx.commit().await.map_err(self.err())?;
            Ok(n)
        })
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

#[derive(Debug, Clone, Copy)]
pub enum ByColumn {
    Commit,
    Deploy,
}

enum Inserted {
    New(i64),
    Existing(i64),
}

async fn open_sqlite(path: &Path, location: &str) -> Result<SqlitePool, HistoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| HistoryError::Unavailable {
            location: location.into(),
            detail: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    // Checked before SQLite sees the file: SQLite would happily treat an
    // empty file as a new database, but anything else that does not start
    // with its magic is someone's data, and is left as it is.
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Read as _;
        let mut head = [0u8; 16];
        let n = f.read(&mut head).unwrap_or(0);
        if n > 0 && (n < 16 || &head != b"SQLite format 3\0") {
            return Err(HistoryError::Corrupt {
                location: location.into(),
                detail: "the file does not start with SQLite's header".into(),
            });
        }
    }
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    // Switching a new file to WAL upgrades a shared lock to an exclusive
    // one; when another process holds a shared lock at that moment SQLite
    // answers SQLITE_BUSY at once instead of calling the busy handler (it
    // would deadlock otherwise), so two runs creating one store retry here.
    let started = std::time::Instant::now();
    let connected = loop {
        let r = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(opts.clone())
            .await;
        match r {
            Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(
                    20 + (started.elapsed().as_millis() % 97) as u64,
                ))
                .await;
            }
            r => break r,
        }
    };
    let pool = connected.map_err(|e| {
        let detail = e.to_string();
        if is_corruption(&detail) {
            HistoryError::Corrupt {
                location: location.into(),
                detail,
            }
        } else {
            HistoryError::Unavailable {
                location: location.into(),
                detail,
            }
        }
    })?;
    Ok(pool)
}

fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("5") | Some("6") | Some("517"))
        }
        other => other.to_string().contains("database is locked"),
    }
}

fn is_corruption(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("file is not a database") || d.contains("malformed") || d.contains("corrupt")
}
