//! Configuration: the contract's environment variables, the same settings as
//! command-line flags, and the in-process constructor the harness uses.
//!
//! Clap types stop here: [`Cli::into_config`] converts once, and the rest of
//! the crate only ever sees [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// Embedded SQLite file `backend.db` inside this directory (created if absent).
    Sqlite { data_dir: PathBuf },
    /// A full PostgreSQL URL (`DATABASE_URL`), which wins over the parts.
    PostgresUrl(String),
    /// The `DB_*` set ECS injects. Kept apart from the URL form so that a
    /// password with `@`, `/` or `%` in it needs no escaping.
    PostgresParts {
        host: String,
        port: u16,
        name: String,
        username: String,
        password: Option<String>,
    },
}

impl Database {
    /// The value health reports as `database.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            _ => "postgresql",
        }
    }
}

/// The fault-injection lab's guard settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabConfig {
    pub enable: bool,
    pub token: Option<String>,
    pub allow_prod: bool,
}

/// Everything configurable. Public fields so the harness and tests can adjust
/// one thing after starting from [`Config::embedded`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen port the binary binds (the library's `start` takes the address).
    pub port: u16,
    /// Environment name reported by health and `backend_info`.
    pub environment: String,
    pub database: Database,
    /// CORS origin in production.
    pub frontend_url: String,
    pub lab: LabConfig,
    /// Reported as `instance` by health; the host name when `None`.
    pub instance_id: Option<String>,
    /// One info line per request.
    pub request_log: bool,
    /// Upper bound of the database pool.
    pub db_max_connections: u32,
    /// How long start-up waits for the database (retrying while PostgreSQL
    /// is not up, or while a busy host is slow to open SQLite). Requests
    /// never wait this long: they have their own 1 s bound.
    pub db_connect_timeout: Duration,
    /// Concurrent health checks share one fresh probe (see `probe.rs`);
    /// false = one `SELECT 1` per request.
    pub health_coalesce: bool,
}

impl Config {
    /// SQLite in `data_dir`, development environment, port 0, lab off, request
    /// log off: what the harness wants when the user names no target.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            port: 0,
            environment: "development".to_owned(),
            database: Database::Sqlite {
                data_dir: data_dir.into(),
            },
            frontend_url: DEFAULT_FRONTEND_URL.to_owned(),
            lab: LabConfig::default(),
            instance_id: None,
            request_log: false,
            db_max_connections: DEFAULT_POOL_MAX,
            db_connect_timeout: Duration::from_secs(10),
            health_coalesce: true,
        }
    }

    /// Same as [`Config::embedded`] but on PostgreSQL.
    pub fn postgres(url: impl Into<String>) -> Self {
        Config {
            database: Database::PostgresUrl(url.into()),
            ..Config::embedded("data")
        }
    }

    /// Turns the lab on with this token (the guard still refuses production
    /// unless `lab.allow_prod`).
    pub fn with_lab(mut self, token: impl Into<String>) -> Self {
        self.lab.enable = true;
        self.lab.token = Some(token.into());
        self
    }

    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    pub fn is_production(&self) -> bool {
        self.environment == "production"
    }

    /// Whether the lab routes exist at all: the contract's three conditions.
    pub fn lab_active(&self) -> bool {
        self.lab.enable
            && self.lab.token.as_deref().is_some_and(|t| !t.is_empty())
            && (!self.is_production() || self.lab.allow_prod)
    }
}

const DEFAULT_FRONTEND_URL: &str = "https://davidshaevel.com";
/// TypeORM's default pool size; measured as enough to saturate PostgreSQL
/// on a small host (see scripts/bench-backend).
const DEFAULT_POOL_MAX: u32 = 10;

/// Command line of the `backend` binary. Every flag falls back to the
/// environment variable the original service read.
#[derive(Debug, Parser)]
#[command(
    name = "backend",
    version,
    about = "Projects API (health, metrics, CRUD) on PostgreSQL or embedded SQLite"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Listen port.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// Environment name (wins over NODE_ENV).
    #[arg(long = "app-env", env = "APP_ENV")]
    pub app_env: Option<String>,

    /// Environment name as the original read it; `development` when neither is set.
    #[arg(long = "node-env", env = "NODE_ENV")]
    pub node_env: Option<String>,

    /// Full PostgreSQL URL; wins over the DB_* settings.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL host; giving it selects PostgreSQL.
    #[arg(long, env = "DB_HOST")]
    pub db_host: Option<String>,

    /// PostgreSQL port.
    #[arg(long, env = "DB_PORT", default_value_t = 5432)]
    pub db_port: u16,

    /// PostgreSQL database name.
    #[arg(long, env = "DB_NAME", default_value = "davidshaevel")]
    pub db_name: String,

    /// PostgreSQL user.
    #[arg(long, env = "DB_USERNAME", default_value = "postgres")]
    pub db_username: String,

    /// PostgreSQL password.
    #[arg(long, env = "DB_PASSWORD", hide_env_values = true)]
    pub db_password: Option<String>,

    /// Maximum database pool connections.
    #[arg(long, env = "DB_POOL_MAX", default_value_t = DEFAULT_POOL_MAX)]
    pub db_pool_max: u32,

    /// Directory of the embedded SQLite database, used when no PostgreSQL is configured.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// CORS origin in production (`*` in every other environment).
    #[arg(long, env = "FRONTEND_URL", default_value = DEFAULT_FRONTEND_URL)]
    pub frontend_url: String,

    /// Enable the fault-injection lab (also needs --lab-token).
    #[arg(long, env = "LAB_ENABLE", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub lab_enable: bool,

    /// Token every lab call must carry in `x-lab-token`.
    #[arg(long, env = "LAB_TOKEN", hide_env_values = true)]
    pub lab_token: Option<String>,

    /// Allow the lab in the `production` environment.
    #[arg(long, env = "LAB_ALLOW_PROD", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub lab_allow_prod: bool,

    /// Instance name reported by health (default: the host name).
    #[arg(long, env = "INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Log one line per request at info level.
    #[arg(long = "request-log", env = "REQUEST_LOG", action = ArgAction::Set, num_args = 0..=1,
          default_value = "true", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub request_log: bool,

    /// Turn the per-request log line off (same as REQUEST_LOG=false).
    #[arg(long = "no-request-log", action = ArgAction::SetTrue)]
    pub no_request_log: bool,

    /// Seconds start-up waits for the database (retrying), at least 1.
    #[arg(long, env = "DB_CONNECT_TIMEOUT", default_value_t = 30)]
    pub db_connect_timeout: u64,

    /// Let concurrent health checks share one probe that starts after they
    /// arrive (false: one SELECT 1 per request).
    #[arg(long, env = "HEALTH_COALESCE", action = ArgAction::Set, num_args = 0..=1,
          default_value = "true", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub health_coalesce: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// GET http://127.0.0.1:$PORT/api/health and exit 0 when it answers 200
    /// (for container HEALTHCHECKs in images without curl).
    Healthcheck,
}

impl Cli {
    pub fn into_config(self) -> Config {
        let environment = self
            .app_env
            .filter(|s| !s.is_empty())
            .or(self.node_env.filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "development".to_owned());
        let database = match (
            self.database_url.filter(|s| !s.is_empty()),
            self.db_host.filter(|s| !s.is_empty()),
        ) {
            (Some(url), _) => Database::PostgresUrl(url),
            (None, Some(host)) => Database::PostgresParts {
                host,
                port: self.db_port,
                name: self.db_name,
                username: self.db_username,
                password: self.db_password,
            },
            (None, None) => Database::Sqlite {
                data_dir: self.data_dir,
            },
        };
        Config {
            port: self.port,
            environment,
            database,
            frontend_url: self.frontend_url,
            lab: LabConfig {
                enable: self.lab_enable,
                token: self.lab_token.filter(|t| !t.is_empty()),
                allow_prod: self.lab_allow_prod,
            },
            instance_id: self.instance_id.filter(|s| !s.is_empty()),
            request_log: self.request_log && !self.no_request_log,
            db_max_connections: self.db_pool_max.max(1),
            db_connect_timeout: Duration::from_secs(self.db_connect_timeout.max(1)),
            health_coalesce: self.health_coalesce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut v = vec!["backend"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).expect("parse").into_config()
    }

    #[test]
    fn app_env_wins_and_url_wins() {
        let c = parse(&[
            "--node-env",
            "staging",
            "--app-env",
            "production",
            "--database-url",
            "postgres://x/y",
            "--db-host",
            "h",
        ]);
        assert_eq!(c.environment, "production");
        assert_eq!(c.database, Database::PostgresUrl("postgres://x/y".into()));
    }

    #[test]
    fn lab_needs_token_and_refuses_production() {
        let c = parse(&["--lab-enable", "--lab-token", "t"]);
        assert!(c.lab_active());
        let c = parse(&[
            "--lab-enable",
            "--lab-token",
            "t",
            "--app-env",
            "production",
        ]);
        assert!(!c.lab_active());
        let c = parse(&[
            "--lab-enable",
            "--lab-token",
            "t",
            "--app-env",
            "production",
            "--lab-allow-prod",
        ]);
        assert!(c.lab_active());
        let c = parse(&["--lab-enable"]);
        assert!(!c.lab_active());
    }
}
