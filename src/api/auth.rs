//! Machine authentication: `Authorization: Bearer <agent key>` → the agent and its tenant;
//! `Authorization: Bearer <personal API token>` → the console user it acts as.

use crate::agents::Principal;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// An agent authenticated by its API key. Extracting it answers 401 for a missing, malformed,
/// unknown or revoked key, with the same message for the last three so keys cannot be probed.
pub struct AuthenticatedAgent(pub Principal);

impl FromRequestParts<AppState> for AuthenticatedAgent {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let key = bearer(&parts.headers)
            .ok_or_else(|| AppError::unauthorized("Missing API key: send Authorization: Bearer <agent key>"))?;
        state.gate.authenticate(key).await.map(AuthenticatedAgent)
    }
}

/// A console user authenticated by a personal API token (the automation API). Extracting it
/// answers 401 for a missing, unknown or revoked token (one message for the last two). The
/// user's role is read at each request, so a changed role applies at once.
pub struct AuthenticatedUser(pub CurrentUser);

impl FromRequestParts<AppState> for AuthenticatedUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            AppError::unauthorized("Missing API token: send Authorization: Bearer <personal API token>")
        })?;
        crate::api_tokens::store::authenticate(&state.db.pool, token, state.clock.now_ms())
            .await?
            .map(AuthenticatedUser)
            .ok_or_else(|| AppError::unauthorized("Invalid or revoked API token"))
    }
}

/// The credential of `Authorization: Bearer <credential>`, if there is one.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}
