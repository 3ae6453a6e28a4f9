//! The fault-injection lab: its guard, and each fault.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Engine, LAB_TOKEN, Storage, TestApp, assert_error_shape, sample};

async fn sqlite_app(adjust: impl FnOnce(backend::Config) -> backend::Config) -> TestApp {
    let storage = Storage::new(Engine::Sqlite).await;
    TestApp::spawn_with(Engine::Sqlite, storage, adjust).await
}

/// A refused lab answers exactly like a route that does not exist.
async fn assert_hidden(app: &TestApp, token: Option<&str>) {
    let headers: Vec<(&str, &str)> = token.map(|t| vec![("x-lab-token", t)]).unwrap_or_default();
    for (m, path) in [
        ("GET", "/api/lab/status"),
        ("POST", "/api/lab/reset"),
        ("GET", "/api/lab/constant"),
    ] {
        let r = app.client.send(m, path, None, &headers).await;
        let v = assert_error_shape(&r, 404);
        assert_eq!(
            v,
            json!({"statusCode": 404, "message": format!("Cannot {m} {path}"), "error": "Not Found"})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_is_guarded() {
    // Disabled.
    let app = sqlite_app(|mut c| {
        c.lab.enable = false;
        c
    })
    .await;
    assert_hidden(&app, Some(LAB_TOKEN)).await;
    app.finish().await;
    // Enabled without a token.
    let app = sqlite_app(|mut c| {
        c.lab.token = None;
        c
    })
    .await;
    assert_hidden(&app, Some(LAB_TOKEN)).await;
    app.finish().await;
    // Production without LAB_ALLOW_PROD.
    let app = sqlite_app(|c| c.with_environment("production")).await;
    assert_hidden(&app, Some(LAB_TOKEN)).await;
    app.finish().await;
    // Enabled: missing or wrong token is refused; the right one works.
    let app = sqlite_app(|mut c| {
        c.environment = "production".into();
        c.lab.allow_prod = true;
        c
    })
    .await;
    assert_hidden(&app, None).await;
    assert_hidden(&app, Some("wrong")).await;
    assert_hidden(&app, Some(&format!("{LAB_TOKEN}x"))).await;
    let r = app.client.lab("GET", "/api/lab/status", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"latency": [], "errors": [], "dbDown": false, "stall": null})
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_work_and_reset_clears_them() {
    let app = sqlite_app(|c| c).await;
    let c = app.client.clone();

    // Malformed bodies.
    for (path, body) in [
        ("/api/lab/latency", json!({"fixedMs": 5})),
        ("/api/lab/errors", json!({"route": "*", "rate": 2})),
        ("/api/lab/db-outage", json!({"down": "yes"})),
        ("/api/lab/stall", json!({"everyMs": 100, "pauseMs": 200})),
    ] {
        assert_error_shape(&c.lab("POST", path, Some(body)).await, 400);
    }
    let r = c
        .send(
            "POST",
            "/api/lab/latency",
            Some(("application/json", b"{".to_vec())),
            &[("x-lab-token", LAB_TOKEN)],
        )
        .await;
    assert_error_shape(&r, 400);

    // Fixed-delay and constant routes.
    let t = Instant::now();
    let r = c.get_lab("/api/lab/delay/150").await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.json(), json!({"delayedMs": 150}));
    assert_eq!(
        c.get_lab("/api/lab/constant").await.json(),
        json!({"ok": true})
    );

    // Latency on one route only.
    let r = c
        .lab(
            "POST",
            "/api/lab/latency",
            Some(json!({"route": "/api/health", "fixedMs": 300, "jitterMs": 0})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = Instant::now();
    assert_eq!(c.get("/api/health").await.status, 200);
    let slow = t.elapsed();
    assert!(slow >= Duration::from_millis(300), "{slow:?}");
    // Rules that must not apply inject far more than a busy host can add,
    // so "not delayed" needs no tight bound.
    let not_applied = Duration::from_millis(2_500);
    c.lab(
        "POST",
        "/api/lab/latency",
        Some(json!({"route": "/api/health", "fixedMs": 5_000})),
    )
    .await;
    let t = Instant::now();
    c.get("/api/projects").await;
    assert!(t.elapsed() < not_applied, "{:?}", t.elapsed());
    // Replacing the rule, and a method filter that does not match.
    c.lab(
        "POST",
        "/api/lab/latency",
        Some(json!({"route": "/api/health", "fixedMs": 0})),
    )
    .await;
    c.lab(
        "POST",
        "/api/lab/latency",
        Some(json!({"route": "*", "method": "POST", "fixedMs": 5_000})),
    )
    .await;
    let t = Instant::now();
    c.get("/api/health").await;
    assert!(t.elapsed() < not_applied, "{:?}", t.elapsed());
    let status = c.lab("GET", "/api/lab/status", None).await.json();
    assert_eq!(
        status["latency"],
        json!([{"route": "*", "method": "POST", "fixedMs": 5_000, "jitterMs": 0}])
    );
    c.lab("POST", "/api/lab/reset", None).await;

    // Errors at rate 1.0: every answer is the 5xx, and metrics count it.
    let selects = |text: &str| {
        sample(
            text,
            "db_queries_total",
            &[("query_type", "select"), ("table", "projects")],
        )
    };
    let selects_before = selects(&c.metrics().await);
    c.lab(
        "POST",
        "/api/lab/errors",
        Some(json!({"route": "/api/projects", "rate": 1.0, "status": 500})),
    )
    .await;
    for _ in 0..5 {
        let r = c.get("/api/projects").await;
        let v = assert_error_shape(&r, 500);
        assert_eq!(
            v,
            json!({"statusCode": 500, "message": "Internal server error"})
        );
    }
    assert_eq!(
        c.get("/api/health").await.status,
        200,
        "other routes unaffected"
    );
    c.lab(
        "POST",
        "/api/lab/errors",
        Some(json!({"route": "*", "rate": 1.0, "status": 503})),
    )
    .await;
    assert_eq!(c.get("/api/health").await.status, 503);
    let text = c.metrics().await;
    let labels = [
        ("method", "GET"),
        ("route", "/api/projects"),
        ("status_code", "500"),
    ];
    assert_eq!(sample(&text, "http_requests_total", &labels), 5.0);
    assert_eq!(
        sample(&text, "http_request_duration_seconds_count", &labels),
        5.0
    );
    // Injected answers never touch the database.
    assert_eq!(selects(&text), selects_before);
    c.lab("POST", "/api/lab/reset", None).await;

    // Database outage.
    c.lab("POST", "/api/lab/db-outage", Some(json!({"down": true})))
        .await;
    assert_eq!(c.get("/api/health").await.status, 503);
    let v = assert_error_shape(
        &c.post_json("/api/projects", &json!({"title": "t", "description": "d"}))
            .await,
        503,
    );
    assert_eq!(v["error"], "Service Unavailable");
    assert_eq!(
        c.lab("GET", "/api/lab/status", None).await.json()["dbDown"],
        true
    );
    c.lab("POST", "/api/lab/reset", None).await;
    assert_eq!(c.get("/api/health").await.status, 200);

    // Stall: requests arriving during a pause wait for its end.
    c.lab(
        "POST",
        "/api/lab/stall",
        Some(json!({"everyMs": 400, "pauseMs": 250})),
    )
    .await;
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(1300) {
        let t = Instant::now();
        c.get("/api/lab/constant").await; // lab routes are exempt: the reset must always work
        c.get("/api/health").await;
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        worst >= Duration::from_millis(150),
        "a request waited out a pause: {worst:?}"
    );
    c.lab("POST", "/api/lab/stall", Some(json!({"everyMs": 0})))
        .await;
    let status = c.lab("POST", "/api/lab/reset", None).await.json();
    assert_eq!(
        status,
        json!({"latency": [], "errors": [], "dbDown": false, "stall": null})
    );
    let t = Instant::now();
    for _ in 0..5 {
        c.get("/api/health").await;
    }
    assert!(t.elapsed() < Duration::from_millis(400));
    app.finish().await;
}

impl crate::support::Client {
    async fn get_lab(&self, path: &str) -> crate::support::Reply {
        self.lab("GET", path, None).await
    }
}

/// Graceful shutdown lets a request that is already running finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let mut app = sqlite_app(|c| c).await;
    let c = app.client.clone();
    let slow = tokio::spawn(async move { c.lab("GET", "/api/lab/delay/400", None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let server = app.server.take().expect("server");
    let t = Instant::now();
    server.shutdown().await.expect("shutdown");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "shutdown waited for the request"
    );
    let r = slow.await.expect("join");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"delayedMs": 400}));
}
