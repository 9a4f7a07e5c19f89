//! Server functions that change a tenant's token limit and enforcement mode (system admins only).

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

/// Sets a tenant's enforcement mode: `off`, `monitor`, `enforce`, or `default` (the server's).
#[server(prefix = "/api", endpoint = "set_enforcement_mode")]
pub async fn set_enforcement_mode(tenant_id: String, mode: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let id = crate::tenants::TenantId::parse(&tenant_id)?;
    let mode = super::EnforcementMode::parse_setting("mode", &mode)?;
    super::manage::set_mode(&state, &user, &id, mode).await?;
    if crate::ui::submitted_without_javascript().await {
        leptos_axum::redirect(&format!("/tenants/{id}"));
    }
    Ok(())
}

#[cfg(feature = "ssr")]
async fn update(tenant_id: &str, limit: Option<super::TokenLimit>) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let id = crate::tenants::TenantId::parse(tenant_id)?;
    super::manage::set_token_limit(&state, &user, &id, limit).await
}
