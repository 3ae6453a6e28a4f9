//! The HTTP surface: one router per resource, merged under `/api`, wrapped in
//! the layers every route shares (CORS, metrics, lab faults), plus the
//! request-body extractor whose every rejection becomes an [`AppError`].

mod health;
mod lab;
mod metrics;
mod projects;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::middleware::from_fn_with_state;
use http_body_util::BodyExt;
use serde_json::Value;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::config::Config;
use crate::error::AppError;
use crate::state::AppState;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Oversized bodies are read and discarded up to this size so the client
/// receives the 413 instead of a connection reset mid-upload.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let mut api = Router::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(projects::routes());
    if state.config().lab_active() {
        api = api.merge(lab::routes(state.clone()));
    }
    api.fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(from_fn_with_state(state.clone(), crate::lab::inject))
        .layer(from_fn_with_state(state.clone(), crate::telemetry::track))
        .layer(cors(state.config()))
        .with_state(state)
}

/// NestJS answers unknown routes (and unknown methods on known ones) with 404.
async fn not_found(method: Method, uri: Uri) -> AppError {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    AppError::route_not_found(method.as_str(), path)
}

/// The original's `enableCors`: the frontend's origin in production, any
/// origin elsewhere.
fn cors(config: &Config) -> CorsLayer {
    let origin = match (
        config.is_production(),
        HeaderValue::from_str(&config.frontend_url),
    ) {
        (true, Ok(v)) => AllowOrigin::exact(v),
        _ => AllowOrigin::any(),
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(Any)
}

/// A JSON request body, with express.json's leniencies: an empty body is
/// `{}`; a top-level scalar is malformed (strict mode).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
            return Err(AppError::PayloadTooLarge);
        }
        let bytes = read_limited(req.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(serde_json::Map::new())));
        }
        if !is_json {
            return Err(AppError::BadRequest(
                "Content-Type must be application/json".into(),
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(JsonBody(v)),
            Ok(_) => Err(AppError::BadRequest(
                "Unexpected token in JSON at position 0: only objects and arrays are accepted"
                    .into(),
            )),
            Err(e) => Err(AppError::BadRequest(format!(
                "Unexpected token in JSON at position {}",
                offset_of(&bytes, e.line(), e.column())
            ))),
        }
    }
}

async fn read_limited(mut body: Body) -> Result<Bytes, AppError> {
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| AppError::BadRequest("Failed to read the request body".into()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > DRAIN_LIMIT {
            return Err(AppError::PayloadTooLarge);
        }
        if total <= BODY_LIMIT {
            buf.extend_from_slice(&data);
        }
    }
    if total > BODY_LIMIT {
        return Err(AppError::PayloadTooLarge);
    }
    Ok(Bytes::from(buf))
}

/// Byte offset of serde_json's 1-based line/column, for JSON.parse-like messages.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1);
        }
        offset += l.len() + 1;
    }
    bytes.len()
}
