//! `GET /api/health`: liveness of the service *and* its database, in the
//! original's shape, plus `instance` so a client behind a load balancer can
//! count the tasks that answered.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::state::AppState;
use crate::store::StoreError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/health/", get(health))
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    timestamp: String,
    version: &'static str,
    service: &'static str,
    uptime: f64,
    environment: &'a str,
    database: DatabaseHealth,
    instance: &'a str,
}

#[derive(Serialize)]
struct DatabaseHealth {
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn health(State(state): State<AppState>) -> Response {
    let ping = if state.config().health_coalesce {
        state.probe().check(state.store()).await
    } else {
        state.store().ping().await
    };
    let config = state.config();
    let (code, status, db_status, error) = match ping {
        Ok(()) => (StatusCode::OK, "healthy", "connected", None),
        Err(e) => {
            tracing::warn!(error = %e, "health: database check failed");
            let detail = match e {
                StoreError::Unavailable(m) | StoreError::Query(m) => m,
            };
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "unhealthy",
                "error",
                Some(detail),
            )
        }
    };
    let body = Health {
        status,
        timestamp: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        version: crate::VERSION,
        service: "backend",
        uptime: state.telemetry().uptime_seconds(),
        environment: &config.environment,
        database: DatabaseHealth {
            status: db_status,
            kind: config.database.kind(),
            // Connection details are for developers, not for the internet.
            error: error.filter(|_| config.environment == "development"),
        },
        instance: state.instance(),
    };
    (code, Json(body)).into_response()
}
