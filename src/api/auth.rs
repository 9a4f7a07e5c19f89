//! Agent authentication: `Authorization: Bearer <api key>` → the agent and its tenant.

use crate::agents::Principal;
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
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| AppError::unauthorized("Missing API key: send Authorization: Bearer <agent key>"))?;
        state.gate.authenticate(key).await.map(AuthenticatedAgent)
    }
}
