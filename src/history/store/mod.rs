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
//!
//! Files: this one opens and migrates either engine; `write` stores runs
//! and prunes, `read` answers the lists, baselines and trend queries,
//! `sqlite` holds what only the file engine needs (its header check and
//! busy retries).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;

use self::sqlite::{is_busy, open_sqlite};

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

mod read;
mod sqlite;
mod write;

pub use read::{ByColumn, NamePoint, RunRow};

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
}

fn is_corruption(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("file is not a database") || d.contains("malformed") || d.contains("corrupt")
}
