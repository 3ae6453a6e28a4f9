//! Persistence behind one interface, with a concrete pool per engine.
//!
//! An enum over `PgPool`/`SqlitePool` rather than `sqlx::Any`: `Any` erases
//! the PostgreSQL array type the contract requires (`text[]`) and costs a
//! dynamic dispatch per row. All SQL lives in this module's children; this
//! file adds what every query needs: timing and counting, a deadline, the
//! lab's simulated outage, and classification of failures.

mod postgres;
mod sqlite;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{PgPool, SqlitePool};
use uuid::Uuid;

use crate::config::{Config, Database};
use crate::model::Project;
use crate::telemetry::DbMetrics;

/// Health must answer within about a second even when the database hangs.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound for a project query, so no request can hang on a dead socket.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection. Short, so an outage
/// turns into fast 503s rather than a queue of hung requests.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
const TABLE: &str = "projects";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (refused, reset, timed out, pool
    /// exhausted, or the lab's simulated outage).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error.
    #[error("query failed: {0}")]
    Query(String),
}

#[derive(Clone)]
enum Engine {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

#[derive(Clone)]
pub struct Store {
    engine: Engine,
    metrics: DbMetrics,
    outage: Arc<AtomicBool>,
}

impl Store {
    /// Connects (retrying until `config.db_connect_timeout`) and applies the
    /// engine's migrations.
    pub async fn connect(
        config: &Config,
        metrics: DbMetrics,
        outage: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let engine = match &config.database {
            Database::Sqlite { data_dir } => Engine::Sqlite(
                sqlite::connect(data_dir, config.db_max_connections, ACQUIRE_TIMEOUT).await?,
            ),
            db => Engine::Postgres(
                postgres::connect(
                    db,
                    config.db_max_connections,
                    ACQUIRE_TIMEOUT,
                    config.db_connect_timeout,
                )
                .await?,
            ),
        };
        Ok(Store {
            engine,
            metrics,
            outage,
        })
    }

    pub async fn close(&self) {
        match &self.engine {
            Engine::Postgres(p) => p.close().await,
            Engine::Sqlite(p) => p.close().await,
        }
    }

    /// `SELECT 1` for health. Counted under table `none` so the projects
    /// figures stay about projects.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::ping(p).await,
                Engine::Sqlite(p) => sqlite::ping(p).await,
            }
        };
        self.run("select", "none", PING_TIMEOUT, fut).await
    }

    pub async fn list_active(&self) -> Result<Vec<Project>, StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::list_active(p).await,
                Engine::Sqlite(p) => sqlite::list_active(p).await,
            }
        };
        self.run("select", TABLE, QUERY_TIMEOUT, fut).await
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<Project>, StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::get(p, id).await,
                Engine::Sqlite(p) => sqlite::get(p, id).await,
            }
        };
        self.run("select", TABLE, QUERY_TIMEOUT, fut).await
    }

    pub async fn insert(&self, project: &Project) -> Result<(), StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::insert(p, project).await,
                Engine::Sqlite(p) => sqlite::insert(p, project).await,
            }
        };
        self.run("insert", TABLE, QUERY_TIMEOUT, fut).await
    }

    /// Writes every column of an existing row; false when the row is gone.
    pub async fn update(&self, project: &Project) -> Result<bool, StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::update(p, project).await,
                Engine::Sqlite(p) => sqlite::update(p, project).await,
            }
        };
        self.run("update", TABLE, QUERY_TIMEOUT, fut).await
    }

    /// False when there was no such row.
    pub async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        let fut = async {
            match &self.engine {
                Engine::Postgres(p) => postgres::delete(p, id).await,
                Engine::Sqlite(p) => sqlite::delete(p, id).await,
            }
        };
        self.run("delete", TABLE, QUERY_TIMEOUT, fut).await
    }

    async fn run<T>(
        &self,
        query_type: &'static str,
        table: &'static str,
        deadline: Duration,
        fut: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = if self.outage.load(Ordering::Relaxed) {
            Err(StoreError::Unavailable(
                "connection refused (lab db-outage)".into(),
            ))
        } else {
            match tokio::time::timeout(deadline, fut).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(classify(e)),
                Err(_) => Err(StoreError::Unavailable(format!(
                    "query timed out after {deadline:?}"
                ))),
            }
        };
        let error_type = result.as_ref().err().map(|e| match e {
            StoreError::Unavailable(_) => "ConnectionError",
            StoreError::Query(_) => "QueryFailedError",
        });
        self.metrics
            .record(query_type, table, start.elapsed(), error_type);
        result
    }
}

fn classify(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => StoreError::Query(db.to_string()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        other => StoreError::Query(other.to_string()),
    }
}
