//! Persistence behind one interface, with a concrete pool per engine.
//!
//! An enum over a concrete `PgPool`/`SqlitePool` (each fronted by `Slots`)
//! rather than `sqlx::Any`: `Any` erases the PostgreSQL array type the
//! contract requires (`text[]`) and costs a dynamic dispatch per row. All SQL
//! lives in this module's children; this file adds what every query needs:
//! timing and counting, a deadline, the lab's simulated outage, connection
//! reuse, and classification of failures.

mod postgres;
mod sqlite;
mod startup;

pub use startup::StartupTimeout;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{Semaphore, SemaphorePermit};
use uuid::Uuid;

use crate::config::{Config, Database};
use crate::model::Project;
use crate::telemetry::DbMetrics;

/// Health must answer within about a second even when the database hangs.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Upper bound for a project query, so no request can hang on a dead socket.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection (a free slot, then an
/// open connection). Short, so an outage turns into fast 503s rather than a
/// queue of hung requests. Start-up waits `Config::db_connect_timeout`
/// instead (see `startup.rs`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
const TABLE: &str = "projects";

#[derive(Debug, Clone, thiserror::Error)]
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
    Postgres(Arc<Slots<Postgres>>),
    Sqlite(Arc<Slots<Sqlite>>),
}

/// Runs `$body` with `$c` bound to a checked-out connection of whichever
/// engine is configured, under the store's bookkeeping (see [`Store::run`]).
macro_rules! on_conn {
    ($self:ident, $query_type:expr, $table:expr, $deadline:expr, |$c:ident| $pg:expr, $sq:expr) => {{
        let engine = &$self.engine;
        $self
            .run($query_type, $table, $deadline, async move {
                match engine {
                    Engine::Postgres(slots) => {
                        let mut held = slots.checkout().await?;
                        let result = match held.conn() {
                            Ok($c) => $pg.await,
                            Err(e) => Err(e),
                        };
                        held.settle(&result);
                        result
                    }
                    Engine::Sqlite(slots) => {
                        let mut held = slots.checkout().await?;
                        let result = match held.conn() {
                            Ok($c) => $sq.await,
                            Err(e) => Err(e),
                        };
                        held.settle(&result);
                        result
                    }
                }
            })
            .await
    }};
}

#[derive(Clone)]
pub struct Store {
    engine: Engine,
    metrics: DbMetrics,
    outage: Arc<AtomicBool>,
}

impl Store {
    /// Connects (retrying until `config.db_connect_timeout`) and applies the
    /// engine's migrations. A database that is not there in time is a
    /// [`StartupTimeout`] in the error chain.
    pub async fn connect(
        config: &Config,
        metrics: DbMetrics,
        outage: Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let size = config.db_max_connections.max(1);
        let engine = match &config.database {
            Database::Sqlite { data_dir } => {
                let pool = sqlite::connect(data_dir, size, config.db_connect_timeout).await?;
                let slots = pool.options().get_max_connections();
                Engine::Sqlite(Arc::new(Slots::new(pool, slots)))
            }
            db => {
                let pool = postgres::connect(db, size, config.db_connect_timeout).await?;
                Engine::Postgres(Arc::new(Slots::new(pool, size)))
            }
        };
        Ok(Store {
            engine,
            metrics,
            outage,
        })
    }

    pub async fn close(&self) {
        match &self.engine {
            Engine::Postgres(s) => s.close().await,
            Engine::Sqlite(s) => s.close().await,
        }
    }

    /// `SELECT 1` for health. Counted under table `none` so the projects
    /// figures stay about projects.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_conn!(
            self,
            "select",
            "none",
            PING_TIMEOUT,
            |c| postgres::ping(c),
            sqlite::ping(c)
        )
    }

    pub async fn list_active(&self) -> Result<Vec<Project>, StoreError> {
        on_conn!(
            self,
            "select",
            TABLE,
            QUERY_TIMEOUT,
            |c| postgres::list_active(c),
            sqlite::list_active(c)
        )
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<Project>, StoreError> {
        on_conn!(
            self,
            "select",
            TABLE,
            QUERY_TIMEOUT,
            |c| postgres::get(c, id),
            sqlite::get(c, id)
        )
    }

    pub async fn insert(&self, project: &Project) -> Result<(), StoreError> {
        on_conn!(
            self,
            "insert",
            TABLE,
            QUERY_TIMEOUT,
            |c| postgres::insert(c, project),
            sqlite::insert(c, project)
        )
    }

    /// Writes every column of an existing row; false when the row is gone.
    pub async fn update(&self, project: &Project) -> Result<bool, StoreError> {
        on_conn!(
            self,
            "update",
            TABLE,
            QUERY_TIMEOUT,
            |c| postgres::update(c, project),
            sqlite::update(c, project)
        )
    }

    /// False when there was no such row.
    pub async fn delete(&self, id: Uuid) -> Result<bool, StoreError> {
        on_conn!(
            self,
            "delete",
            TABLE,
            QUERY_TIMEOUT,
            |c| postgres::delete(c, id),
            sqlite::delete(c, id)
        )
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

/// Connections checked out of the sqlx pool once and then kept.
///
/// sqlx's pool pings a PostgreSQL connection (a Sync round trip) and spawns
/// a task every time one is returned, which doubled the database round
/// trips of every request. Keeping checked-out connections on a free list
/// (one FIFO queue of waiters, via the semaphore) keeps one round trip per
/// query; the pool still opens, configures and closes them. An entry whose
/// connection failed is emptied and refilled from the pool on next use,
/// which is how the service recovers after an outage.
///
/// A transport failure on one connection usually means all of them are dead
/// (the database restarted, the network was cut), so it bumps `failures`,
/// and every connection opened before the latest failure is replaced on its
/// next use instead of failing one more request each.
struct Slots<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
    /// Exactly `size` entries while nothing is checked out; `None` = not
    /// connected yet. A stack, so the warmest connection is reused first.
    free: std::sync::Mutex<Vec<Option<Pinned<DB>>>>,
    permits: Semaphore,
    size: u32,
    failures: AtomicU64,
}

struct Pinned<DB: sqlx::Database> {
    /// `failures` when the connection was checked out of the pool.
    epoch: u64,
    conn: PoolConnection<DB>,
}

struct Held<'a, DB: sqlx::Database> {
    item: Option<Pinned<DB>>,
    slots: &'a Slots<DB>,
    _permit: SemaphorePermit<'a>,
}

impl<DB: sqlx::Database> Slots<DB> {
    fn new(pool: sqlx::Pool<DB>, size: u32) -> Self {
        let size = size.max(1);
        Slots {
            pool,
            free: std::sync::Mutex::new((0..size).map(|_| None).collect()),
            permits: Semaphore::new(size as usize),
            size,
            failures: AtomicU64::new(0),
        }
    }

    fn free_list(&self) -> std::sync::MutexGuard<'_, Vec<Option<Pinned<DB>>>> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (bounded by the acquire timeout) for a free entry and makes sure
    /// it holds a current connection.
    async fn checkout(&self) -> sqlx::Result<Held<'_, DB>> {
        // One bound for both waits. The pool's own acquire timeout is the
        // long start-up one, so the short one is imposed here.
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let permit = tokio::time::timeout_at(deadline, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let item = self.free_list().pop().flatten();
        let mut held = Held {
            item,
            slots: self,
            _permit: permit,
        };
        let epoch = self.failures.load(Ordering::Acquire);
        if held.item.as_ref().is_some_and(|p| p.epoch < epoch) {
            held.item = None;
        }
        if held.item.is_none() {
            let acquired = tokio::time::timeout_at(deadline, self.pool.acquire())
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut));
            match acquired {
                Ok(conn) => held.item = Some(Pinned { epoch, conn }),
                Err(e) => {
                    // The database is unreachable: what the other entries
                    // hold is suspect too.
                    self.failures.fetch_add(1, Ordering::AcqRel);
                    return Err(e);
                }
            }
        }
        Ok(held)
    }

    async fn close(&self) {
        let all = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire_many(self.size)).await;
        self.free_list().clear();
        drop(all);
        self.permits.close();
        // Released connections are handed back by spawned tasks; bound the
        // wait so close() cannot hang on a lost one.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pool.close()).await;
    }
}

impl<DB: sqlx::Database> Drop for Held<'_, DB> {
    fn drop(&mut self) {
        // Back on the list before the permit (a later field) is released.
        let item = self.item.take();
        self.slots.free_list().push(item);
    }
}

impl<DB: sqlx::Database> Held<'_, DB> {
    fn conn(&mut self) -> sqlx::Result<&mut DB::Connection> {
        self.item
            .as_mut()
            .map(|p| &mut *p.conn)
            .ok_or(sqlx::Error::PoolClosed)
    }

    /// Drops a connection that failed at the transport level.
    fn settle<T>(&mut self, result: &sqlx::Result<T>) {
        if let Err(e) = result
            && matches!(classify_ref(e), Class::Unavailable)
        {
            self.item = None;
            self.slots.failures.fetch_add(1, Ordering::AcqRel);
        }
    }
}

enum Class {
    Unavailable,
    Query,
}

fn classify_ref(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Unavailable,
        _ => Class::Query,
    }
}

fn classify(e: sqlx::Error) -> StoreError {
    match classify_ref(&e) {
        Class::Unavailable => StoreError::Unavailable(e.to_string()),
        Class::Query => StoreError::Query(e.to_string()),
    }
}
