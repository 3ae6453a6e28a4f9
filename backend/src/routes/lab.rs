//! `/api/lab/*`: the fault-injection API. Only mounted when the lab is active
//! (see [`crate::config::Config::lab_active`]); every call must carry the
//! token, and a refusal looks exactly like an unknown route so that probing
//! reveals nothing.

use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::JsonBody;
use crate::error::AppError;
use crate::lab::{ErrorRule, LabStatus, LatencyRule};
use crate::state::AppState;

/// Upper bound of the fixed-delay route, so it cannot pin a connection forever.
const MAX_DELAY_MS: u64 = 60_000;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/lab/status", get(status))
        .route("/api/lab/latency", post(latency))
        .route("/api/lab/errors", post(errors))
        .route("/api/lab/db-outage", post(db_outage))
        .route("/api/lab/stall", post(stall))
        .route("/api/lab/reset", post(reset))
        .route("/api/lab/delay/{ms}", get(delay))
        .route("/api/lab/constant", get(constant))
        .route_layer(from_fn_with_state(state, guard))
}

async fn guard(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let expected = state.config().lab.token.as_deref().unwrap_or("").as_bytes();
    let given = req
        .headers()
        .get("x-lab-token")
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let ok = !expected.is_empty() && bool::from(given.ct_eq(expected));
    if !ok {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        return Err(AppError::route_not_found(req.method().as_str(), path));
    }
    Ok(next.run(req).await)
}

fn parse<T: DeserializeOwned>(body: Value) -> Result<T, AppError> {
    serde_json::from_value(body).map_err(|e| AppError::Validation(vec![e.to_string()]))
}

async fn status(State(state): State<AppState>) -> Json<LabStatus> {
    Json(state.lab().status())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LatencyBody {
    route: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    fixed_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
}

async fn latency(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<LabStatus>, AppError> {
    let b: LatencyBody = parse(body)?;
    if b.fixed_ms.saturating_add(b.jitter_ms) > MAX_DELAY_MS {
        return Err(AppError::Validation(vec![format!(
            "fixedMs + jitterMs must not exceed {MAX_DELAY_MS}"
        )]));
    }
    state.lab().set_latency(LatencyRule {
        route: b.route,
        method: b.method.map(|m| m.to_ascii_uppercase()),
        fixed_ms: b.fixed_ms,
        jitter_ms: b.jitter_ms,
    });
    Ok(Json(state.lab().status()))
}

#[derive(Deserialize)]
struct ErrorsBody {
    route: String,
    #[serde(default)]
    method: Option<String>,
    rate: f64,
    #[serde(default = "default_status")]
    status: u16,
}

fn default_status() -> u16 {
    500
}

async fn errors(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<LabStatus>, AppError> {
    let b: ErrorsBody = parse(body)?;
    let mut problems = Vec::new();
    if !(0.0..=1.0).contains(&b.rate) {
        problems.push("rate must be between 0 and 1".to_owned());
    }
    if !(500..=599).contains(&b.status) {
        problems.push("status must be a 5xx status code".to_owned());
    }
    if !problems.is_empty() {
        return Err(AppError::Validation(problems));
    }
    state.lab().set_errors(ErrorRule {
        route: b.route,
        method: b.method.map(|m| m.to_ascii_uppercase()),
        rate: b.rate,
        status: b.status,
    });
    Ok(Json(state.lab().status()))
}

#[derive(Deserialize)]
struct OutageBody {
    down: bool,
}

async fn db_outage(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<LabStatus>, AppError> {
    let b: OutageBody = parse(body)?;
    state.lab().set_db_down(b.down);
    Ok(Json(state.lab().status()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StallBody {
    every_ms: u64,
    #[serde(default)]
    pause_ms: u64,
}

async fn stall(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Json<LabStatus>, AppError> {
    let b: StallBody = parse(body)?;
    if b.every_ms > 0 && (b.pause_ms == 0 || b.pause_ms >= b.every_ms) {
        return Err(AppError::Validation(vec![
            "pauseMs must be greater than 0 and less than everyMs".into(),
        ]));
    }
    state.lab().set_stall(b.every_ms, b.pause_ms);
    Ok(Json(state.lab().status()))
}

async fn reset(State(state): State<AppState>) -> Json<LabStatus> {
    state.lab().reset();
    Json(state.lab().status())
}

async fn delay(ms: Result<Path<u64>, PathRejection>) -> Result<Json<Value>, AppError> {
    let Path(ms) =
        ms.map_err(|_| AppError::BadRequest("ms must be a non-negative integer".into()))?;
    if ms > MAX_DELAY_MS {
        return Err(AppError::BadRequest(format!(
            "ms must not be greater than {MAX_DELAY_MS}"
        )));
    }
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Json(json!({ "delayedMs": ms })))
}

/// The throughput ceiling for benchmarks: routing and middleware, no database.
async fn constant() -> Json<Value> {
    Json(json!({ "ok": true }))
}
