//! Server functions that change a tenant's token limit (system admins only).

use crate::error::AppError;
use leptos::prelude::*;

/// Sets a tenant's token limit. `token_limit` is the text the admin typed; it must be a
/// positive whole number up to 2^53 (the same rule the browser applies while typing).
#[server(prefix = "/api", endpoint = "set_token_limit")]
pub async fn set_token_limit(tenant_id: String, token_limit: String) -> Result<(), AppError> {
    let limit = super::TokenLimit::parse(&token_limit)?;
    update(&tenant_id, Some(limit)).await
}

/// Removes a tenant's token limit ("No Limit").
#[server(prefix = "/api", endpoint = "clear_token_limit")]
pub async fn clear_token_limit(tenant_id: String) -> Result<(), AppError> {
    update(&tenant_id, None).await
}

#[cfg(feature = "ssr")]
async fn update(tenant_id: &str, limit: Option<super::TokenLimit>) -> Result<(), AppError> {
    use crate::tenants::{store, TenantId};

    let state = crate::state::app_state()?;
    let admin = crate::auth::guard::require_system_admin(&state).await?;
    let id = TenantId::parse(tenant_id)?;
    let mut tx = state.db.begin_write().await?;
    if !store::set_token_limit(&mut tx, &id, limit, &admin.username, state.clock.now_ms()).await? {
        return Err(AppError::not_found(format!("No tenant with id {id}")));
    }
    tx.commit().await?;
    // Checks in this process decide from memory: they must see the new limit from now on.
    state.gate.tenant_changed(&id).await?;
    tracing::info!(by = %admin.username, tenant_id = %id, token_limit = ?limit.map(|l| l.get()), "token limit changed");
    Ok(())
}
