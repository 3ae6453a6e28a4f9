//! `GET /api/metrics`: the Prometheus scrape endpoint.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/metrics", get(metrics))
        .route("/api/metrics/", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut res = state.telemetry().render().into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}
