//! Saving a tenant's budget, whether from the budget page or the automation API: who may
//! (system admins, and tenant admins for their own tenant within the ceiling a system admin
//! set), LiteLLM first when it is configured and the tenant has a virtual key (nothing is saved
//! if that fails; LiteLLM is put back if the database then fails), the row and its audit entry
//! in one transaction, then the gate told. (The CLI and seed files write directly, without
//! LiteLLM.) A new duration never empties the current period: it begins at the next reset.

use super::rules::check_ceiling;
use super::BudgetConfig;
use crate::auth::guard::{not_found, require_tenant};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::tenants::{store as tenants, TenantId};

/// Sets (or with `None` removes) the tenant's budget.
pub async fn save(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    config: Option<&BudgetConfig>,
) -> Result<(), AppError> {
    require_tenant(user, id)?;
    let before = tenants::get(&state.db.pool, id).await?.ok_or_else(|| not_found(id))?;
    // Checked before LiteLLM hears of it, and again in the transaction (the ceiling may change
    // in between).
    let within_ceiling = |ceiling: Option<i64>| match user.is_system_admin() {
        true => Ok(()),
        false => check_ceiling(config, ceiling).map_err(AppError::from),
    };
    within_ceiling(before.budget_ceiling_micros)?;
    let synced = match (&state.litellm, &before.litellm_key) {
        (Some(litellm), Some(key)) => {
            litellm.update_key(key, config).await.map_err(|reason| AppError::BadGateway {
                message: format!("Failed to update budget configuration: {reason}"),
            })?;
            Some((litellm, key))
        }
        _ => None,
    };
    let now = state.clock.now_ms();
    let saved = async {
        let mut tx = state.db.begin_write().await?;
        let found = tenants::set_budget(&mut tx, id, config, &user.username, now).await?;
        let found = found.ok_or_else(|| not_found(id))?;
        within_ceiling(found.budget_ceiling_micros)?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(e) = saved {
        // LiteLLM already has the new budget: put the old one back (best effort).
        if let Some((litellm, key)) = synced {
            if let Err(reason) = litellm.update_key(key, before.budget().as_ref()).await {
                tracing::error!(tenant_id = %id, %reason, "LiteLLM key left with a budget the database does not have");
            }
        }
        return Err(e);
    }
    state.gate.tenant_changed(id).await?;
    if let Some((litellm, key)) = synced {
        litellm.forget_spend(key);
    }
    tracing::info!(by = %user.username, tenant_id = %id, max_budget_micros = ?config.map(|c| c.max_budget_micros), "budget saved");
    Ok(())
}

/// Sets (or with `None` removes) the ceiling on the block amount tenant admins may save
/// (system admins only). The tenant's current budget is left as it is.
pub async fn set_ceiling(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    ceiling_micros: Option<i64>,
) -> Result<(), AppError> {
    if !user.is_system_admin() {
        return Err(AppError::forbidden("Only system admins can set a tenant's budget ceiling"));
    }
    require_tenant(user, id)?;
    let mut tx = state.db.begin_write().await?;
    if !tenants::set_budget_ceiling(&mut tx, id, ceiling_micros, &user.username, state.clock.now_ms()).await? {
        return Err(not_found(id));
    }
    tx.commit().await?;
    tracing::info!(by = %user.username, tenant_id = %id, budget_ceiling_micros = ?ceiling_micros, "budget ceiling set");
    Ok(())
}
