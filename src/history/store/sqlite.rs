//! What only the SQLite engine needs: a header check that leaves someone
//! else's file alone, and retries while another process holds the lock.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::{BUSY_TIMEOUT, HistoryError, is_corruption};

pub(super) async fn open_sqlite(path: &Path, location: &str) -> Result<SqlitePool, HistoryError> {
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

pub(super) fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("5") | Some("6") | Some("517"))
        }
        other => other.to_string().contains("database is locked"),
    }
}
