//! Embedded SQLite: the zero-setup default. Same columns as PostgreSQL;
//! `technologies` is JSON text and timestamps are epoch milliseconds (which
//! sort and compare as numbers).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::startup;
use crate::model::Project;

/// The database file inside the data directory.
pub const FILE_NAME: &str = "backend.db";
/// Longer than any request's deadline, so a lock held by a slow writer
/// surfaces as that request's timeout rather than as `database is locked`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

macro_rules! columns {
    () => {
        r#"id, title, description, "imageUrl", "projectUrl", "githubUrl", technologies, "isActive", "sortOrder", "createdAt", "updatedAt""#
    };
}

/// Opens (creating if absent) the database file and applies the migrations.
/// Opening is local work, but on a busy host it can take longer than a
/// request may wait, so it gets the whole start-up bound.
pub async fn connect(
    data_dir: &Path,
    max_connections: u32,
    connect_timeout: Duration,
) -> anyhow::Result<SqlitePool> {
    tokio::fs::create_dir_all(data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("creating data directory {}: {e}", data_dir.display()))?;
    let file = data_dir.join(FILE_NAME);
    tracing::info!(path = %file.display(), "using embedded SQLite database");
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(&file)
        .create_if_missing(true)
        // WAL lets readers proceed while one writer commits.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // How long a statement waits for another connection's lock; the
        // migrations and switching to WAL take one.
        .busy_timeout(BUSY_TIMEOUT);
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.clamp(1, 8))
        .acquire_timeout(connect_timeout)
        .connect_lazy_with(options);
    startup::wait_for(&pool, "SQLite", connect_timeout)
        .await
        .map_err(|e| e.context(format!("opening SQLite database {}", file.display())))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|e| anyhow::Error::new(e).context("applying SQLite migrations"))?;
    Ok(pool)
}

pub async fn ping(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT 1")
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

pub async fn list_active(conn: &mut SqliteConnection) -> sqlx::Result<Vec<Project>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        r#" FROM projects WHERE "isActive" = 1 ORDER BY "sortOrder" ASC, "createdAt" DESC"#
    );
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut SqliteConnection, id: Uuid) -> sqlx::Result<Option<Project>> {
    let sql = concat!("SELECT ", columns!(), " FROM projects WHERE id = ?1");
    let row = sqlx::query(sql)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn insert(conn: &mut SqliteConnection, p: &Project) -> sqlx::Result<()> {
    let sql = concat!(
        "INSERT INTO projects (",
        columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    );
    sqlx::query(sql)
        .bind(p.id.to_string())
        .bind(&p.title)
        .bind(&p.description)
        .bind(&p.image_url)
        .bind(&p.project_url)
        .bind(&p.github_url)
        .bind(technologies_json(&p.technologies))
        .bind(p.is_active)
        .bind(p.sort_order)
        .bind(p.created_at.timestamp_millis())
        .bind(p.updated_at.timestamp_millis())
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

pub async fn update(conn: &mut SqliteConnection, p: &Project) -> sqlx::Result<bool> {
    let r = sqlx::query(
        r#"UPDATE projects SET title = ?2, description = ?3, "imageUrl" = ?4, "projectUrl" = ?5, "githubUrl" = ?6, technologies = ?7, "isActive" = ?8, "sortOrder" = ?9, "updatedAt" = ?10 WHERE id = ?1"#,
    )
    .bind(p.id.to_string())
    .bind(&p.title)
    .bind(&p.description)
    .bind(&p.image_url)
    .bind(&p.project_url)
    .bind(&p.github_url)
    .bind(technologies_json(&p.technologies))
    .bind(p.is_active)
    .bind(p.sort_order)
    .bind(p.updated_at.timestamp_millis())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete(conn: &mut SqliteConnection, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM projects WHERE id = ?1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

fn technologies_json(t: &Option<Vec<String>>) -> Option<String> {
    t.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

fn decode_err(column: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    }
}

fn millis(r: &SqliteRow, column: &str) -> sqlx::Result<DateTime<Utc>> {
    let ms: i64 = r.try_get(column)?;
    DateTime::from_timestamp_millis(ms).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("timestamp out of range: {ms}").into(),
    })
}

fn from_row(r: &SqliteRow) -> sqlx::Result<Project> {
    let id: String = r.try_get("id")?;
    let technologies: Option<String> = r.try_get("technologies")?;
    Ok(Project {
        id: Uuid::parse_str(&id).map_err(|e| decode_err("id", e))?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        image_url: r.try_get("imageUrl")?,
        project_url: r.try_get("projectUrl")?,
        github_url: r.try_get("githubUrl")?,
        technologies: technologies
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| decode_err("technologies", e))?,
        is_active: r.try_get("isActive")?,
        sort_order: r.try_get("sortOrder")?,
        created_at: millis(r, "createdAt")?,
        updated_at: millis(r, "updatedAt")?,
    })
}
