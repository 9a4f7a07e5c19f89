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

/// Saves everything the Usage Limits drawer shows in one go (system admins only): the token
/// limit (empty: No Limit), the max budget (empty: no budget; the thresholds and duration stay
/// as they are), the budget ceiling for tenant admins (empty: none) and the mode. Every field
/// is checked before anything is saved; only what changed is written (and audited).
#[server(prefix = "/api", endpoint = "save_tenant_limits")]
pub async fn save_tenant_limits(
    tenant_id: String,
    token_limit: String,
    max_budget: String,
    budget_ceiling: String,
    mode: String,
) -> Result<(), AppError> {
    use crate::budgets::rules::{parse_usd, BudgetConfig, BudgetForm};

    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_system_admin(&state).await?;
    let id = crate::tenants::TenantId::parse(&tenant_id)?;
    let limit = super::parse_optional_limit(&token_limit)?;
    let mode = super::EnforcementMode::parse_setting("mode", &mode)?;
    let ceiling = match budget_ceiling.trim() {
        "" => None,
        text => Some(parse_usd("budget_ceiling", text)?),
    };
    let before =
        crate::tenants::store::get(&state.db.pool, &id).await?.ok_or_else(|| crate::auth::guard::not_found(&id))?;
    let budget = match max_budget.trim() {
        "" => None,
        text => {
            let form = BudgetForm { max_budget: text.to_owned(), ..BudgetForm::of(before.budget().as_ref()) };
            Some(BudgetConfig::parse(&form).map_err(|e| {
                e.into_iter().next().map_or_else(|| AppError::bad_request("Invalid budget"), AppError::from)
            })?)
        }
    };
    if before.token_limit() != limit {
        super::manage::set_token_limit(&state, &user, &id, limit).await?;
    }
    if super::EnforcementMode::from_stored(before.enforcement_mode.as_deref()) != mode {
        super::manage::set_mode(&state, &user, &id, mode).await?;
    }
    if before.budget_ceiling_micros != ceiling {
        crate::budgets::manage::set_ceiling(&state, &user, &id, ceiling).await?;
    }
    if before.budget() != budget {
        crate::budgets::manage::save(&state, &user, &id, budget.as_ref()).await?;
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
