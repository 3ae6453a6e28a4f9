//! A real database outage on PostgreSQL, without restarting the backend: a
//! TCP proxy between the backend and PostgreSQL is cut (listener closed,
//! connections killed, new ones refused) and then restored.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{
    Engine, Proxy, Storage, TestApp, admin_url, assert_error_shape, host_port, with_host_port,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_is_reported_and_recovers_without_restart() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("backend=info,sqlx=warn")
        .with_test_writer()
        .try_init();
    let storage = Storage::new(Engine::Postgres).await;
    let direct = storage.pg_url().expect("pg").to_owned();
    let mut proxy = Proxy::start(host_port(&admin_url())).await;
    let via_proxy = with_host_port(&direct, &proxy.addr.to_string());
    let app = TestApp::spawn_with(Engine::Postgres, storage, |mut c| {
        c.database = backend::Database::PostgresUrl(via_proxy);
        c
    })
    .await;
    let c = app.client.clone();
    let created = c
        .post_json(
            "/api/projects",
            &json!({"title": "kept", "description": "d"}),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(c.get("/api/health").await.status, 200);

    proxy.cut();
    // Health reports the outage within 2 s.
    let t = Instant::now();
    let mut health = c.get("/api/health").await;
    while health.status == 200 && t.elapsed() < Duration::from_secs(2) {
        health = c.get("/api/health").await;
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "health took {:?}",
        t.elapsed()
    );
    assert_eq!(health.status, 503, "{}", health.text);
    let v = health.json();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["database"]["status"], "error");
    // A second check, now against refused connections, is still prompt.
    let t = Instant::now();
    assert_eq!(c.get("/api/health").await.status, 503);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Projects routes fail fast in the contract's shape.
    for (m, path, body) in [
        ("GET", "/api/projects".to_owned(), None),
        ("GET", format!("/api/projects/{id}"), None),
        (
            "POST",
            "/api/projects".to_owned(),
            Some(json!({"title": "t", "description": "d"})),
        ),
        (
            "PUT",
            format!("/api/projects/{id}"),
            Some(json!({"title": "t"})),
        ),
        ("DELETE", format!("/api/projects/{id}"), None),
    ] {
        let t = Instant::now();
        let r = c
            .send(
                m,
                &path,
                body.map(|b| ("application/json", b.to_string().into_bytes())),
                &[],
            )
            .await;
        assert!(
            r.status == 503 || r.status == 500,
            "{m} {path}: {} {}",
            r.status,
            r.text
        );
        assert_error_shape(&r, r.status);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{m} {path} took {:?}",
            t.elapsed()
        );
    }

    proxy.restore().await;
    let t = Instant::now();
    loop {
        let h = c.get("/api/health").await;
        if h.status == 200 {
            assert_eq!(h.json()["database"]["status"], "connected");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no recovery: {}",
            h.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = c.get(&format!("/api/projects/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["title"], "kept");
    app.finish().await;
    proxy.cut();
}
