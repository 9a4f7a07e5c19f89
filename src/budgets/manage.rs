//! Saving a tenant's budget, whether from the budget page or the automation API: who may
//! (system admins, and tenant admins for their own tenant), LiteLLM first when it is
//! configured and the tenant has a virtual key (nothing is saved if that fails; LiteLLM is put
//! back if the database then fails), the row and its audit entry in one transaction, then the
//! gate told. (The CLI and seed files write directly, without LiteLLM.)

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
        tenants::set_budget(&mut tx, id, config, &user.username, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = saved {
        // LiteLLM already has the new budget: put the old one back (best effort).
        if let Some((litellm, key)) = synced {
            if let Err(reason) = litellm.update_key(key, before.budget().as_ref()).await {
                tracing::error!(tenant_id = %id, %reason, "LiteLLM key left with a budget the database does not have");
            }
        }
        return Err(e.into());
    }
    state.gate.tenant_changed(id).await?;
    if let Some((litellm, key)) = synced {
        litellm.forget_spend(key);
    }
    tracing::info!(by = %user.username, tenant_id = %id, max_budget_micros = ?config.map(|c| c.max_budget_micros), "budget saved");
    Ok(())
}
