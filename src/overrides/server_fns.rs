//! Server functions of the tenant page's overrides form: system admins, and tenant admins for
//! their own tenant, set and remove users' overrides. The fields are the form's text, checked
//! by the same functions the browser runs while typing.

use crate::error::AppError;
use leptos::prelude::*;

/// Sets `user_id`'s override to `token_limit` tokens per period (adding it if needed).
#[server(prefix = "/api", endpoint = "set_user_override")]
pub async fn set_user_override(tenant_id: String, user_id: String, token_limit: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let id = crate::tenants::TenantId::parse(&tenant_id)?;
    let user_id = super::parse_user_id("user_id", &user_id)?;
    let limit = crate::limits::TokenLimit::parse(&token_limit)?;
    let change = crate::overrides::store::SetKind::CreateOrChange;
    crate::limits::manage::set_override(&state, &user, &id, &user_id, limit, change).await?;
    back_to_tenant_page(&id).await;
    Ok(())
}

/// Removes `user_id`'s override: they share the tenant's total again.
#[server(prefix = "/api", endpoint = "remove_user_override")]
pub async fn remove_user_override(tenant_id: String, user_id: String) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let id = crate::tenants::TenantId::parse(&tenant_id)?;
    let user_id = super::parse_user_id("user_id", &user_id)?;
    crate::limits::manage::remove_override(&state, &user, &id, &user_id).await?;
    back_to_tenant_page(&id).await;
    Ok(())
}

/// A plain form post (JavaScript off) goes back to the tenant page, which shows the change.
#[cfg(feature = "ssr")]
async fn back_to_tenant_page(id: &crate::tenants::TenantId) {
    if crate::ui::submitted_without_javascript().await {
        leptos_axum::redirect(&format!("/tenants/{id}"));
    }
}
