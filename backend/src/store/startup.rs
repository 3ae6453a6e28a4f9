//! Waiting for the database at start-up.
//!
//! Start-up and requests want opposite things from a pool: a request must
//! fail fast when the database is gone (so health reports an outage within
//! about a second), while start-up must wait for a database that is still
//! booting, or for a host so busy that opening a SQLite file takes more than
//! a second. So the pools are built with the start-up deadline as their
//! acquire timeout, start-up waits here, and request-time checkouts impose
//! the short bound themselves (see `Slots::checkout`).

use std::time::Duration;

use tokio::time::Instant;

use super::{Class, classify_ref};

/// The longest pause between two start-up attempts: a database that comes
/// up is noticed within this.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The database did not accept a connection before the start-up deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{engine} did not accept a connection within {timeout:?} (DB_CONNECT_TIMEOUT / --db-connect-timeout){}",
    last.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
)]
pub struct StartupTimeout {
    /// `PostgreSQL` or `SQLite`.
    pub engine: &'static str,
    pub timeout: Duration,
    /// The last error an attempt returned, when one did before the deadline.
    pub last: Option<String>,
}

/// Returns once `pool` hands out a connection, retrying transport failures
/// with backoff until `timeout` has passed. Errors that waiting cannot cure
/// (bad credentials, unknown database) fail at once.
pub async fn wait_for<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    engine: &'static str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, pool.acquire()).await {
            Ok(Ok(conn)) => {
                drop(conn);
                return Ok(());
            }
            Ok(Err(e)) if retryable(&e) => {
                tracing::warn!(error = %e, "{engine} not reachable yet; retrying");
                last = Some(e.to_string());
            }
            Ok(Err(e)) => {
                return Err(anyhow::Error::new(e).context(format!("connecting to {engine}")));
            }
            Err(_) => break,
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep_until((Instant::now() + backoff).min(deadline)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(StartupTimeout {
        engine,
        timeout,
        last,
    }
    .into())
}

/// Transport failures, and the server errors a booting PostgreSQL sends
/// ("the database system is starting up").
fn retryable(e: &sqlx::Error) -> bool {
    match e {
        // cannot_connect_now
        sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
        _ => matches!(classify_ref(e), Class::Unavailable),
    }
}
