//! The only place error bodies are shaped.
//!
//! Clients of the original (and the harness's scenarios) match on NestJS's
//! `{"statusCode","message","error"}` shape, so every failure — validation,
//! routing, body limits, database trouble, injected faults — is turned into an
//! [`AppError`] and rendered here, never ad hoc in a handler.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A failure a client may see.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// class-validator style messages, always rendered as an array.
    #[error("validation failed: {0:?}")]
    Validation(Vec<String>),
    /// A single-message 400 (bad UUID, malformed JSON, wrong content type).
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// The database cannot be reached; the detail is logged, never sent.
    #[error("database unavailable")]
    DatabaseUnavailable,
    /// Anything else; the detail is logged, never sent.
    #[error("internal error")]
    Internal,
    /// A 5xx the lab injects, rendered like NestJS renders an unknown exception.
    #[error("injected fault {0}")]
    Injected(StatusCode),
}

impl AppError {
    /// NestJS's 404 for an unknown route (also how refused lab routes answer).
    pub fn route_not_found(method: &str, path: &str) -> Self {
        AppError::NotFound(format!("Cannot {method} {path}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation(_) | AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Injected(s) => *s,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Message {
    One(String),
    Many(Vec<String>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    status_code: u16,
    message: Message,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, error) = match self {
            AppError::Validation(msgs) => (Message::Many(msgs), Some("Bad Request")),
            AppError::BadRequest(m) => (Message::One(m), Some("Bad Request")),
            AppError::NotFound(m) => (Message::One(m), Some("Not Found")),
            AppError::PayloadTooLarge => (
                Message::One("request entity too large".into()),
                Some("Payload Too Large"),
            ),
            AppError::DatabaseUnavailable => (
                Message::One("Database unavailable".into()),
                Some("Service Unavailable"),
            ),
            // NestJS renders an unhandled exception without an `error` field.
            AppError::Internal => (Message::One("Internal server error".into()), None),
            AppError::Injected(s) if s == StatusCode::INTERNAL_SERVER_ERROR => {
                (Message::One("Internal server error".into()), None)
            }
            AppError::Injected(s) => (
                Message::One(s.canonical_reason().unwrap_or("Server Error").to_owned()),
                None,
            ),
        };
        let body = Body {
            status_code: status.as_u16(),
            message,
            error,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut res = (status, bytes).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        res
    }
}

/// The `error_type` label of `http_request_errors_total`: the NestJS exception
/// class the original would have thrown for this status.
pub fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequestException",
        401 => "UnauthorizedException",
        403 => "ForbiddenException",
        404 => "NotFoundException",
        405 => "MethodNotAllowedException",
        413 => "PayloadTooLargeException",
        415 => "UnsupportedMediaTypeException",
        500 => "InternalServerErrorException",
        502 => "BadGatewayException",
        503 => "ServiceUnavailableException",
        504 => "GatewayTimeoutException",
        s if s >= 500 => "HttpException",
        _ => "HttpException",
    }
}
