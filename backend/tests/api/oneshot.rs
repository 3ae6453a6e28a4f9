//! The router without a socket, through `tower::ServiceExt::oneshot`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[tokio::test]
async fn router_answers_without_a_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = backend::AppState::new(backend::Config::embedded(dir.path()))
        .await
        .expect("state");
    let app = backend::app(state);
    let res = app
        .clone()
        .oneshot(
            Request::get("/api/health")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["database"]["type"], "sqlite");
    let res = app
        .oneshot(
            Request::get("/api/lab/status")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "lab is off in Config::embedded"
    );
}

/// The container HEALTHCHECK path: `backend healthcheck` succeeds against a
/// healthy server and fails when nothing listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = crate::support::start(backend::Config::embedded(dir.path())).await;
    let port = server.local_addr().port();
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(backend::healthcheck(port).await);
    server.shutdown().await.expect("shutdown");
    assert!(!backend::healthcheck(port).await);
}
