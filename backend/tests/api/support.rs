//! Test support: a backend on 127.0.0.1:0 for either engine, a fresh database
//! per test (dropped afterwards even when the test panics), and a small HTTP
//! client.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (an admin URL, default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it is unreachable the
//! PostgreSQL tests fail with a message saying so: they never skip silently.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::{Config, Server};
use serde_json::Value;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const LAB_TOKEN: &str = "test-lab-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Sqlite,
}

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Replaces the database name of a PostgreSQL URL.
pub fn url_with_db(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut url = format!("{}/{}", &base[..path_start], db);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// A uniquely named PostgreSQL database, dropped `WITH (FORCE)` on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let admin = admin_url();
        let name = format!("backend_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin)).await
            {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => panic!(
                    "PostgreSQL is required for this test but is unreachable at {admin} \
                 (set TEST_DATABASE_URL to an admin URL): {e}"
                ),
                Err(_) => panic!(
                    "PostgreSQL is required for this test but {admin} did not answer within 5 s"
                ),
            };
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        TestDb {
            url: url_with_db(&admin, &name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime: do the async
        // cleanup on a thread of its own.
        let name = self.name.clone();
        let admin = admin_url();
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await
                    {
                        eprintln!("warning: could not drop test database {name}: {e}");
                    }
                    let _ = conn.close().await;
                }
            });
        });
        let _ = worker.join();
    }
}

/// Where a test's data lives; kept alive for the whole test so a restart can
/// reopen the same database.
pub enum Storage {
    Postgres(TestDb),
    Sqlite(tempfile::TempDir),
}

impl Storage {
    pub async fn new(engine: Engine) -> Storage {
        match engine {
            Engine::Postgres => Storage::Postgres(TestDb::create().await),
            Engine::Sqlite => Storage::Sqlite(tempfile::tempdir().expect("tempdir")),
        }
    }

    /// A configuration on this storage with the lab enabled.
    pub fn config(&self) -> Config {
        let base = match self {
            Storage::Postgres(db) => Config::postgres(db.url.clone()),
            Storage::Sqlite(dir) => Config::embedded(dir.path()),
        };
        base.with_lab(LAB_TOKEN).with_instance_id("test-instance")
    }

    pub fn pg_url(&self) -> Option<&str> {
        match self {
            Storage::Postgres(db) => Some(&db.url),
            Storage::Sqlite(_) => None,
        }
    }
}

pub async fn start(config: Config) -> Server {
    backend::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("backend::start")
}

/// One test's backend and its storage. Field order matters: the server goes
/// before the database is dropped.
pub struct TestApp {
    pub server: Option<Server>,
    pub client: Client,
    pub storage: Storage,
    pub engine: Engine,
}

impl TestApp {
    pub async fn spawn(engine: Engine) -> TestApp {
        let storage = Storage::new(engine).await;
        Self::spawn_with(engine, storage, |c| c).await
    }

    pub async fn spawn_with(
        engine: Engine,
        storage: Storage,
        adjust: impl FnOnce(Config) -> Config,
    ) -> TestApp {
        let server = start(adjust(storage.config())).await;
        let client = Client::new(server.base_url());
        TestApp {
            server: Some(server),
            client,
            storage,
            engine,
        }
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("shutdown");
        }
        let server = start(self.storage.config()).await;
        self.client = Client::new(server.base_url());
        self.server = Some(server);
    }

    pub async fn finish(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("shutdown");
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    http: reqwest::Client,
}

/// Every request has a deadline: a hung backend fails the test, never hangs it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    pub fn new(base: String) -> Client {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("http client");
        Client { base, http }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((ct, bytes)) = body {
            req = req.header("content-type", ct).body(bytes);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.text().await.expect("body");
        Reply {
            status,
            content_type,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, &[]).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "POST",
            path,
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        )
        .await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Reply {
        self.send(
            "PUT",
            path,
            Some(("application/json", body.to_string().into_bytes())),
            &[],
        )
        .await
    }

    pub async fn lab(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.send(method, path, body, &[("x-lab-token", LAB_TOKEN)])
            .await
    }

    pub async fn metrics(&self) -> String {
        let r = self.get("/api/metrics").await;
        assert_eq!(r.status, 200);
        r.text
    }
}

/// Asserts the NestJS error shape and returns the body.
pub fn assert_error_shape(reply: &Reply, status: u16) -> Value {
    assert_eq!(
        reply.status, status,
        "unexpected status, body: {}",
        reply.text
    );
    let v = reply.json();
    assert_eq!(v["statusCode"], status, "statusCode in {v}");
    let msg = &v["message"];
    assert!(
        msg.is_string()
            || (msg.is_array()
                && msg
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))),
        "message must be a string or an array of strings: {v}"
    );
    v
}

/// The value of one sample line of a Prometheus exposition (0 when absent).
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, rest) = match series.find('{') {
            Some(i) => (&series[..i], &series[i..]),
            None => (series, ""),
        };
        if n != name {
            continue;
        }
        if labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        {
            // Exact label-set match: every label in the series must be one we asked for.
            let count = rest.matches("=\"").count();
            if count == labels.len() {
                return value.parse().unwrap_or(f64::NAN);
            }
        }
    }
    0.0
}

/// Declares one test per engine from one async body `fn(&mut TestApp)`.
#[macro_export]
macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {
        pub mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let mut app = $crate::support::TestApp::spawn($crate::support::Engine::Postgres).await;
                    super::$name(&mut app).await;
                    app.finish().await;
                }
            )*
        }
        pub mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let mut app = $crate::support::TestApp::spawn($crate::support::Engine::Sqlite).await;
                    super::$name(&mut app).await;
                    app.finish().await;
                }
            )*
        }
    };
}

/// A TCP forwarder to PostgreSQL that a test can cut, restore, or open late.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    accept: Option<JoinHandle<()>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let mut p = Proxy::at(addr, upstream);
        p.serve(listener);
        p
    }

    /// A proxy whose port is reserved but closed (connections are refused)
    /// until [`Proxy::restore`] opens it.
    pub async fn closed(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        Proxy::at(addr, upstream)
    }

    fn at(addr: SocketAddr, upstream: String) -> Proxy {
        Proxy {
            addr,
            upstream,
            accept: None,
            links: Arc::default(),
        }
    }

    fn serve(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let links = self.links.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links.lock().expect("links").push(link);
            }
        }));
    }

    /// Closes the listener (new connections are refused) and kills every
    /// open connection.
    pub fn cut(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for l in self.links.lock().expect("links").drain(..) {
            l.abort();
        }
    }

    /// Opens the listener (again) on the same port.
    pub async fn restore(&mut self) {
        // The aborted accept task drops its listener asynchronously; retry
        // briefly until the port is free again.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => return self.serve(l),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("rebinding the proxy: {e}"),
            }
        }
    }
}

/// host:port of a PostgreSQL URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let hp = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if hp.contains(':') {
        hp.to_owned()
    } else {
        format!("{hp}:5432")
    }
}

/// `url` with its host:port replaced.
pub fn with_host_port(url: &str, hp: &str) -> String {
    let old = host_port(url);
    let old_no_port = old.trim_end_matches(":5432");
    if url.contains(&old) {
        url.replacen(&old, hp, 1)
    } else {
        url.replacen(old_no_port, hp, 1)
    }
}
