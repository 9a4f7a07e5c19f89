//! The errors the proxy answers itself (OpenAI's shape: `{"error": {...}}`, which the SDKs
//! raise from by status and `type`), and the answers the OpenAPI document lists for every
//! proxied route. The upstream's own errors never pass through here: they go to the client
//! as they came.

use super::openai::ErrorBody;
use crate::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// The answers every proxied call may get from the proxy itself (an upstream's own error
/// statuses pass through as they are).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Only described, never built.
pub(super) enum ProxyAnswers {
    /// The upstream's answer: JSON, or for `"stream": true` a `text/event-stream`.
    #[response(status = 200)]
    Answer(#[to_schema] Object),
    /// Malformed JSON, no `model`, or a `user` that is not a string; `param` names it.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// No, an unknown or a revoked agent key (`invalid_api_key`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No upstream serves the model (`model_not_found`).
    #[response(status = 404)]
    NoUpstream(ErrorBody),
    /// The body is larger than the proxy reads (32 MB).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Refused: `rate_limit_exceeded` (a token limit) or `insufficient_quota` (a budget), with
    /// `Retry-After`.
    #[response(status = 429)]
    Refused(ErrorBody),
    /// The upstream could not be reached (`upstream_unreachable`).
    #[response(status = 502)]
    Unreachable(ErrorBody),
    /// The database is unavailable; retry after `Retry-After`.
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// The upstream did not answer in time (`timeout`); nothing is charged.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// Any JSON object (an OpenAI request or answer, passed through).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct Object(serde_json::Map<String, Value>);

/// An error the proxy answers itself, in OpenAI's shape.
pub(super) struct ProxyError {
    pub(super) status: StatusCode,
    pub(super) body: ErrorBody,
    pub(super) retry_after: Option<u64>,
}

impl ProxyError {
    pub(super) fn new(
        status: StatusCode,
        kind: &'static str,
        code: Option<&str>,
        param: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Self { status, body: ErrorBody::new(kind, code, param, message), retry_after: None }
    }

    pub(super) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", None, Some(param), message)
    }
}

impl From<AppError> for ProxyError {
    fn from(e: AppError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, code) = match e.status() {
            401 => ("authentication_error", Some("invalid_api_key")),
            400 | 404 | 422 => ("invalid_request_error", None),
            503 => ("server_error", Some("service_unavailable")),
            _ => ("server_error", None),
        };
        let retry_after = (e.status() == 503).then_some(crate::error::UNAVAILABLE_RETRY_AFTER_SECS);
        let message = e.to_string();
        Self { status, body: ErrorBody::new(kind, code, e.field(), message), retry_after }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
