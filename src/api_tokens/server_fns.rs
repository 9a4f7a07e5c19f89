//! Server functions of the API tokens page: every signed-in user manages their own tokens.

use super::{ApiTokenInfo, CreatedToken};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// The signed-in user's tokens, newest first.
#[server(input = GetUrl, prefix = "/api", endpoint = "list_api_tokens")]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    Ok(super::store::list_for_user(&state.db.pool, user.user_id).await?)
}

/// Creates a token for the signed-in user; the answer is the only time the token is shown.
#[server(prefix = "/api", endpoint = "create_api_token")]
pub async fn create_api_token(name: String) -> Result<CreatedToken, AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let name = super::parse_token_name(&name)?;
    let mut tx = state.db.begin_write().await?;
    let created = super::store::create(&mut tx, &user, &name, state.clock.now_ms()).await?;
    tx.commit().await?;
    tracing::info!(by = %user.username, token_id = created.info.token_id, "API token created");
    Ok(created)
}

/// Revokes one of the signed-in user's tokens: its next request is refused.
#[server(prefix = "/api", endpoint = "revoke_api_token")]
pub async fn revoke_api_token(token_id: i64) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let mut tx = state.db.begin_write().await?;
    if !super::store::revoke(&mut tx, &user, token_id, state.clock.now_ms()).await? {
        return Err(AppError::not_found(format!("You have no working API token with id {token_id}")));
    }
    tx.commit().await?;
    tracing::info!(by = %user.username, token_id, "API token revoked");
    Ok(())
}
