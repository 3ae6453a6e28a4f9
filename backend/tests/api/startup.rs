//! Start-up waits for a database that is not up yet, up to the configured
//! connect timeout, and then fails naming that timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use backend::store::StartupTimeout;

use crate::support::{Client, Engine, Proxy, Storage, admin_url, host_port, with_host_port};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A configuration whose PostgreSQL URL goes through `proxy`.
fn via(storage: &Storage, proxy: &Proxy, connect_timeout: Duration) -> backend::Config {
    let direct = storage.pg_url().expect("pg");
    let mut config = storage.config();
    config.database =
        backend::Database::PostgresUrl(with_host_port(direct, &proxy.addr.to_string()));
    config.db_connect_timeout = connect_timeout;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_up_waits_for_a_database_that_comes_late() {
    let storage = Storage::new(Engine::Postgres).await;
    let mut proxy = Proxy::closed(host_port(&admin_url())).await;
    let config = via(&storage, &proxy, Duration::from_secs(30));
    let starting = tokio::spawn(backend::start(config, loopback()));
    // Connections are refused for the first two seconds.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !starting.is_finished(),
        "start-up ended before the database was reachable: {:?}",
        starting.await.expect("join").err()
    );
    proxy.restore().await;
    let server = tokio::time::timeout(Duration::from_secs(20), starting)
        .await
        .expect("start-up still waiting 20 s after the database came up")
        .expect("join")
        .expect("start-up once the database is up");
    let health = Client::new(server.base_url()).get("/api/health").await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json()["database"]["status"], "connected");
    server.shutdown().await.expect("shutdown");
    proxy.cut();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_up_fails_naming_the_timeout_when_the_database_never_comes() {
    let storage = Storage::new(Engine::Postgres).await;
    let proxy = Proxy::closed(host_port(&admin_url())).await;
    let timeout = Duration::from_secs(1);
    let config = via(&storage, &proxy, timeout);
    let t = Instant::now();
    let err =
        match tokio::time::timeout(Duration::from_secs(20), backend::start(config, loopback()))
            .await
            .expect("start-up must give up after its connect timeout")
        {
            Ok(_) => panic!("start-up succeeded without a database"),
            Err(e) => e,
        };
    assert!(t.elapsed() >= timeout, "gave up after {:?}", t.elapsed());
    let cause = err
        .chain()
        .find_map(|e| e.downcast_ref::<StartupTimeout>())
        .unwrap_or_else(|| panic!("no StartupTimeout in {err:#}"));
    assert_eq!(cause.engine, "PostgreSQL");
    assert_eq!(cause.timeout, timeout);
    let message = format!("{err:#}");
    assert!(
        message.contains("within 1s") && message.contains("DB_CONNECT_TIMEOUT"),
        "{message}"
    );
}
