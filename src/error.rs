//! The one error type of the product. Server functions return it to the browser (as JSON),
//! and the agent HTTP API answers with it; each variant has one HTTP status. Server-side
//! conversions from infrastructure errors log the real cause and hand clients a plain message.

use crate::validation::FieldError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// Every error a client of Tollgate can see. Serialised as `{"error": "<kind>", …}`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AppError {
    /// One input field is invalid (422).
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    /// The request itself is malformed: bad JSON, missing arguments (400).
    #[error("{message}")]
    BadRequest { message: String },
    /// No or a wrong credential (401).
    #[error("{message}")]
    Unauthorized { message: String },
    /// Authenticated, but not allowed (403).
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{message}")]
    NotFound { message: String },
    /// The request contradicts the current state, e.g. a limit for a tenant that exists (409).
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    /// Too many attempts; `retry_after_secs` says when to try again (429).
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    /// Something broke on the server; the cause is in the server log, not here (500).
    #[error("{message}")]
    Internal { message: String },
    /// A dependency is down or overloaded; retrying later may work (503).
    #[error("{message}")]
    Unavailable { message: String },
    /// A service Tollgate depends on (LiteLLM) refused or failed the change (502).
    #[error("{message}")]
    BadGateway { message: String },
}

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest { message: message.into() }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden { message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound { message: message.into() }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized { message: message.into() }
    }

    pub fn internal() -> Self {
        Self::Internal { message: "Internal error; the server log has the details".into() }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into() }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidInput { .. } => 422,
            Self::BadRequest { .. } => 400,
            Self::Unauthorized { .. } => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::RateLimited { .. } => 429,
            Self::Internal { .. } => 500,
            Self::Unavailable { .. } => 503,
            Self::BadGateway { .. } => 502,
        }
    }

    /// The message without the field name, as a sentence: what a form shows under the field.
    pub fn field_message(&self) -> String {
        match self {
            Self::InvalidInput { message, .. } | Self::Conflict { message, .. } => sentence(message),
            other => sentence(&other.to_string()),
        }
    }

    /// The input field this error is about, if any (forms show the message under it).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { field, .. } => Some(field),
            Self::Conflict { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

/// "must be greater than 0" → "Must be greater than 0."
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !out.is_empty() && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        Self::InvalidInput { field: e.field, message: e.message }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) => Self::bad_request(format!("Invalid arguments: {m}")),
            ServerFnErrorErr::MissingArg(m) => Self::bad_request(format!("Missing argument: {m}")),
            // On the server this is a request body that could not be read as text (invalid
            // UTF-8, a broken stream): the client's fault. In the browser it means an answer
            // could not be read, which stays an internal error.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(m) => Self::bad_request(format!("The request could not be read: {m}")),
            ServerFnErrorErr::Request(m) => Self::unavailable(format!("Could not reach the server: {m}")),
            other => Self::Internal { message: other.to_string() },
        }
    }
}

#[cfg(feature = "ssr")]
pub use ssr::UNAVAILABLE_RETRY_AFTER_SECS;

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::Json;

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            match e {
                e if crate::db::is_outage(&e) => {
                    tracing::warn!(error = %e, "database unavailable");
                    crate::metrics::database_unavailable();
                    AppError::unavailable("The database is busy or unavailable; try again")
                }
                e => {
                    tracing::error!(error = %e, "database error");
                    AppError::internal()
                }
            }
        }
    }

    /// What a 503 asks clients to wait before retrying: outages seen here last seconds (a
    /// database restart, a failover).
    pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

    impl AppError {
        /// Headers that go with the status: `Retry-After` for 429, `WWW-Authenticate` for 401.
        pub fn add_headers(&self, headers: &mut axum::http::HeaderMap) {
            use axum::http::{header, HeaderValue};
            match self {
                AppError::RateLimited { retry_after_secs, .. } => {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                }
                AppError::Unauthorized { .. } => {
                    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                AppError::Unavailable { .. } => {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
                }
                _ => {}
            }
        }
    }

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut body = serde_json::to_value(&self).unwrap_or_default();
            // Plain HTTP clients get the sentence too, not only its parts.
            if let Some(map) = body.as_object_mut() {
                map.insert("message".into(), self.to_string().into());
            }
            let mut response = (status, Json(body)).into_response();
            self.add_headers(response.headers_mut());
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_422_and_keep_the_field() {
        let e: AppError = FieldError::new("token_limit", "must be greater than 0").into();
        assert_eq!(e.status(), 422);
        assert_eq!(e.field(), Some("token_limit"));
        assert_eq!(e.to_string(), "token_limit: must be greater than 0");
        let json = serde_json::to_string(&e).expect("serialise");
        assert!(json.contains(r#""error":"invalid_input""#), "{json}");
        assert_eq!(serde_json::from_str::<AppError>(&json).expect("round trip"), e);
    }

    #[test]
    fn field_messages_read_as_sentences() {
        assert_eq!(sentence("must be greater than 0"), "Must be greater than 0.");
        assert_eq!(sentence("Already one."), "Already one.");
        assert_eq!(sentence(""), "");
        let e: AppError = FieldError::new("token_limit", "required").into();
        assert_eq!(e.field_message(), "Required.");
    }

    #[test]
    fn bad_server_fn_arguments_are_client_errors() {
        assert_eq!(AppError::from_server_fn_error(ServerFnErrorErr::Args("x".into())).status(), 400);
        assert_eq!(AppError::from_server_fn_error(ServerFnErrorErr::MissingArg("x".into())).status(), 400);
        #[cfg(feature = "ssr")]
        assert_eq!(AppError::from_server_fn_error(ServerFnErrorErr::Deserialization("utf-8".into())).status(), 400);
    }
}
