//! Shared helpers for the harness's end-to-end tests: run the real
//! `postdeploy` binary, start the real backend (SQLite or a fresh PostgreSQL
//! database), and drive the backend's fault-injection lab over HTTP.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};

pub const LAB_TOKEN: &str = "harness-lab-token";

/// The repository root (where `scenarios/` and `schemas/` live).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the postdeploy binary from the repository root, as CI would.
pub async fn postdeploy(args: &[&str]) -> Output {
    postdeploy_in(&root(), args).await
}

pub async fn postdeploy_in(dir: &Path, args: &[&str]) -> Output {
    postdeploy_env_in(dir, args, &[], &[]).await
}

/// As [`postdeploy`], with variables set (`set`) and removed (`remove`).
pub async fn postdeploy_env(args: &[&str], set: &[(&str, &str)], remove: &[&str]) -> Output {
    postdeploy_env_in(&root(), args, set, remove).await
}

/// GitHub Actions' reporters write outside the test's directory (the job
/// summary) and into stdout (annotations): a test asks for them itself.
const GITHUB_REPORTERS: &[&str] = &["GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"];

async fn postdeploy_env_in(
    dir: &Path,
    args: &[&str],
    set: &[(&str, &str)],
    remove: &[&str],
) -> Output {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_postdeploy"));
    c.args(args)
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("POSTDEPLOY_TARGET")
        .kill_on_drop(true);
    let own_history = args
        .iter()
        .any(|a| a.starts_with("--history") || *a == "--no-history")
        || set.iter().any(|(k, _)| *k == "POSTDEPLOY_HISTORY");
    if !own_history {
        c.env("POSTDEPLOY_HISTORY", scratch_history());
    }
    for k in GITHUB_REPORTERS.iter().chain(remove) {
        c.env_remove(k);
    }
    for (k, v) in set {
        c.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), c.output())
        .await
        .expect("postdeploy did not finish within 120 s")
        .expect("running postdeploy")
}

/// The postdeploy binary with a history store of its own, for tests that
/// drive the process themselves (signals, stdin).
pub fn postdeploy_command() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_postdeploy"));
    c.env("POSTDEPLOY_HISTORY", scratch_history());
    c
}

/// A history store of its own for one postdeploy process: runs of
/// different tests must never become each other's baselines, nor land in
/// the repository's `reports/`.
pub fn scratch_history() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("history");
    std::fs::create_dir_all(&dir).expect("history scratch directory");
    dir.join(format!(
        "{}-{}.sqlite",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
    .display()
    .to_string()
}

/// Every file below `dir`, however deep.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Asserts that no needle occurs in `bytes`, naming `what` and showing up
/// to five offending lines.
pub fn assert_absent(what: &str, bytes: &[u8], needles: &[&str]) {
    let text = String::from_utf8_lossy(bytes);
    for n in needles {
        assert!(
            !text.contains(n),
            "{n} leaked into {what}:\n{}",
            text.lines()
                .filter(|l| l.contains(n))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running backend and what keeps its database alive.
pub struct Backend {
    pub server: backend::Server,
    _dir: Option<tempfile::TempDir>,
    pub db: Option<PgDb>,
}

impl Backend {
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    pub async fn stop(self) {
        self.server.shutdown().await.expect("backend shutdown");
        if let Some(db) = self.db {
            db.drop_now().await;
        }
    }
}

/// The backend on an embedded SQLite file, lab enabled.
pub async fn sqlite_backend() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = backend::Config::embedded(dir.path()).with_lab(LAB_TOKEN);
    let server = backend::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("start backend");
    Backend {
        server,
        _dir: Some(dir),
        db: None,
    }
}

/// The backend on a fresh PostgreSQL database, lab enabled.
pub async fn postgres_backend() -> Backend {
    let db = PgDb::create().await;
    let config = backend::Config::postgres(db.url.clone()).with_lab(LAB_TOKEN);
    let server = backend::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("start backend on PostgreSQL");
    Backend {
        server,
        _dir: None,
        db: Some(db),
    }
}

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A uniquely named PostgreSQL database; dropped by `drop_now` (and, as a
/// fallback, on drop from a blocking thread).
pub struct PgDb {
    pub name: String,
    pub url: String,
    dropped: bool,
}

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        let admin = admin_url();
        let name = format!("postdeploy_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "PostgreSQL at {admin} did not answer within 5 s (set TEST_DATABASE_URL)"
                    )
                })
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL is required but unreachable at {admin}: {e}")
                });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => admin.clone(),
        };
        PgDb {
            name,
            url,
            dropped: false,
        }
    }

    pub async fn drop_now(mut self) {
        drop_db(&self.name).await;
        self.dropped = true;
    }
}

async fn drop_db(name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        let _ = conn.close().await;
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let name = self.name.clone();
        // A panicking test must not leave databases behind.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_db(&name));
            }
        })
        .join();
    }
}

/// Calls a lab route of the backend.
pub async fn lab(base: &str, route: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/lab/{route}"))
        .header("x-lab-token", LAB_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("lab call");
    assert!(
        resp.status().is_success(),
        "lab {route} answered {}",
        resp.status()
    );
    resp.json().await.unwrap_or(json!(null))
}

/// Reads a JUnit file and checks it against the Jenkins schema with xmllint.
pub fn junit_valid(path: &Path) -> String {
    let xsd = root().join("tests/fixtures/jenkins-xunit-junit-10.xsd");
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(path)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(
        out.status.success(),
        "JUnit at {} does not validate: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path).expect("read junit")
}

/// Checks a load report's summary.json against schemas/report.schema.json.
pub fn validate_summary(doc: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not match its schema:\n{}",
        errors.join("\n")
    );
}

/// Decodes a base64 V2-deflate HdrHistogram as summary.json embeds it.
pub fn decode_histogram(b64: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 histogram");
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("V2 histogram")
}
