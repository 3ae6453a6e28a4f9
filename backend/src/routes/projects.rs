//! `/api/projects`: list, create, read, partial update, delete.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use uuid::Uuid;

use super::JsonBody;
use crate::error::AppError;
use crate::model::{self, Project};
use crate::state::AppState;
use crate::store::StoreError;

/// Express matches paths with a trailing slash too (non-strict routing), so
/// each route is also registered in that form.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects", get(list).post(create))
        .route("/api/projects/", get(list).post(create))
        .route("/api/projects/{id}", get(read).put(update).delete(remove))
        .route("/api/projects/{id}/", get(read).put(update).delete(remove))
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "database error");
        match e {
            StoreError::Unavailable(_) => AppError::DatabaseUnavailable,
            StoreError::Query(_) => AppError::Internal,
        }
    }
}

/// ParseUUIDPipe's behaviour: any malformed id (including undecodable path
/// segments) is the same 400.
fn parse_id(id: Result<Path<String>, PathRejection>) -> Result<(Uuid, String), AppError> {
    let bad = || AppError::BadRequest("Validation failed (uuid is expected)".into());
    let Path(raw) = id.map_err(|_| bad())?;
    let uuid = model::parse_uuid(&raw).ok_or_else(bad)?;
    Ok((uuid, raw))
}

fn not_found(raw: &str) -> AppError {
    AppError::NotFound(format!("Project with ID {raw} not found"))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<Project>>, AppError> {
    Ok(Json(state.store().list_active().await?))
}

async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, AppError> {
    let changes = model::validate(&body, false).map_err(AppError::Validation)?;
    let project = changes.into_new_project();
    state.store().insert(&project).await?;
    Ok((StatusCode::CREATED, Json(project)).into_response())
}

async fn read(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Project>, AppError> {
    let (id, raw) = parse_id(id)?;
    state
        .store()
        .get(id)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(&raw))
}

async fn update(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    body: Result<JsonBody, AppError>,
) -> Result<Json<Project>, AppError> {
    // The original validates the id before the body.
    let (id, raw) = parse_id(id)?;
    let JsonBody(body) = body?;
    let changes = model::validate(&body, true).map_err(AppError::Validation)?;
    // Read-modify-write like TypeORM's findOne + save: partial updates need
    // the stored row, and the last writer wins.
    let mut project = state
        .store()
        .get(id)
        .await?
        .ok_or_else(|| not_found(&raw))?;
    changes.apply(&mut project);
    if !state.store().update(&project).await? {
        return Err(not_found(&raw));
    }
    Ok(Json(project))
}

async fn remove(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, AppError> {
    let (id, raw) = parse_id(id)?;
    if state.store().delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&raw))
    }
}
