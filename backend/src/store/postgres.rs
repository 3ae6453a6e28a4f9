//! PostgreSQL: the original's schema (TypeORM's camelCase quoted columns,
//! `uuid`, `text[]`), queried with runtime `sqlx::query` so that building
//! needs no database. Statements are prepared once per connection and cached
//! by sqlx.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::startup;
use crate::config::Database;
use crate::model::Project;

/// A literal (not a `const`) so `concat!` can build `'static` statements.
macro_rules! columns {
    () => {
        r#"id, title, description, "imageUrl", "projectUrl", "githubUrl", technologies, "isActive", "sortOrder", "createdAt", "updatedAt""#
    };
}

/// Opens the pool and applies the migrations, waiting up to
/// `connect_timeout` for a server that is not up yet.
pub async fn connect(
    db: &Database,
    max_connections: u32,
    connect_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = match db {
        Database::PostgresUrl(url) => url.parse()?,
        Database::PostgresParts {
            host,
            port,
            name,
            username,
            password,
        } => {
            let o = PgConnectOptions::new()
                .host(host)
                .port(*port)
                .database(name)
                .username(username);
            match password {
                Some(p) => o.password(p),
                None => o,
            }
        }
        Database::Sqlite { .. } => anyhow::bail!("not a PostgreSQL configuration"),
    };
    let options = options.application_name("backend");
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        // The start-up bound; requests impose their own short one.
        .acquire_timeout(connect_timeout)
        // A dead connection fails its query once and is discarded; pinging
        // before every checkout would double the round trips of every request.
        .test_before_acquire(false)
        .connect_lazy_with(options);
    startup::wait_for(&pool, "PostgreSQL", connect_timeout).await?;
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .map_err(|e| anyhow::Error::new(e).context("applying PostgreSQL migrations"))?;
    Ok(pool)
}

/// Simple-protocol `SELECT 1`: one Query message and no Bind/Describe round,
/// which measured faster than the cached prepared statement for this
/// parameterless probe.
pub async fn ping(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::raw_sql("SELECT 1")
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

pub async fn list_active(conn: &mut PgConnection) -> sqlx::Result<Vec<Project>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        r#" FROM projects WHERE "isActive" = true ORDER BY "sortOrder" ASC, "createdAt" DESC"#
    );
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Project>> {
    let sql = concat!("SELECT ", columns!(), " FROM projects WHERE id = $1");
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn insert(conn: &mut PgConnection, p: &Project) -> sqlx::Result<()> {
    let sql = concat!(
        "INSERT INTO projects (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    sqlx::query(sql)
        .bind(p.id)
        .bind(&p.title)
        .bind(&p.description)
        .bind(&p.image_url)
        .bind(&p.project_url)
        .bind(&p.github_url)
        .bind(&p.technologies)
        .bind(p.is_active)
        .bind(p.sort_order)
        .bind(p.created_at.naive_utc())
        .bind(p.updated_at.naive_utc())
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

pub async fn update(conn: &mut PgConnection, p: &Project) -> sqlx::Result<bool> {
    let r = sqlx::query(
        r#"UPDATE projects SET title = $2, description = $3, "imageUrl" = $4, "projectUrl" = $5, "githubUrl" = $6, technologies = $7, "isActive" = $8, "sortOrder" = $9, "updatedAt" = $10 WHERE id = $1"#,
    )
    .bind(p.id)
    .bind(&p.title)
    .bind(&p.description)
    .bind(&p.image_url)
    .bind(&p.project_url)
    .bind(&p.github_url)
    .bind(&p.technologies)
    .bind(p.is_active)
    .bind(p.sort_order)
    .bind(p.updated_at.naive_utc())
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// `timestamp without time zone`, as TypeORM created it; values are UTC.
fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    let t = t.and_utc();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn from_row(r: &PgRow) -> sqlx::Result<Project> {
    Ok(Project {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        image_url: r.try_get("imageUrl")?,
        project_url: r.try_get("projectUrl")?,
        github_url: r.try_get("githubUrl")?,
        technologies: r.try_get("technologies")?,
        is_active: r.try_get("isActive")?,
        sort_order: r.try_get("sortOrder")?,
        created_at: utc(r.try_get("createdAt")?),
        updated_at: utc(r.try_get("updatedAt")?),
    })
}
