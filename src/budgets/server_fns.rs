//! Server functions of the budget page. A tenant admin reads and edits their own tenant's
//! budget; a system admin any tenant's.

use super::BudgetOverview;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// The budget page's data; `alerts_page` is the page of the alert history (1 = newest ten).
#[server(input = GetUrl, prefix = "/api", endpoint = "load_budget")]
pub async fn load_budget(tenant_id: String, alerts_page: Option<u32>) -> Result<BudgetOverview, AppError> {
    use super::trend::{window_start_day, SpendTrend};
    use super::SpendSource;
    use crate::auth::guard;
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let id = TenantId::parse(&tenant_id)?;
    guard::require_tenant(&user, &id)?;
    let snapshot = state.gate.usage_snapshot(&id).await?.ok_or_else(|| guard::not_found(&id))?;
    let pool = &state.db.pool;
    let alerts = crate::alerts::store::list(pool, &id, alerts_page.unwrap_or(1)).await?;
    let daily = crate::usage::store::daily_spend(pool, &id, snapshot.period.start).await?;
    let first_day = window_start_day(snapshot.period.start, snapshot.now);
    let before_window = daily.iter().filter(|(day, _)| *day < first_day).map(|(_, m)| m).sum();
    let in_window: Vec<(i64, i64)> = daily.into_iter().filter(|(day, _)| *day >= first_day).collect();
    let tenant = crate::tenants::store::get(pool, &id).await?.ok_or_else(|| guard::not_found(&id))?;
    let litellm_key = state.litellm.as_ref().and(tenant.litellm_key.clone());
    let schedule = snapshot.policy.period.settled(snapshot.now);
    let (spend_micros, spend_source) = match (&state.litellm, &litellm_key) {
        (Some(litellm), Some(key)) if litellm.reads_spend() => {
            let spend = litellm.key_spend(key, snapshot.now).await.map_err(|reason| AppError::BadGateway {
                message: format!("LiteLLM's spend of this tenant's key could not be read: {reason}"),
            })?;
            (spend, SpendSource::LiteLlm)
        }
        _ => (snapshot.counters.cost_micros, SpendSource::Ledger),
    };
    Ok(BudgetOverview {
        tenant_id: id.to_string(),
        display_name: snapshot.display_name.clone(),
        budget: snapshot.policy.budget,
        spend_micros,
        reserved_micros: snapshot.reserved_micros as i64,
        unpriced_events: snapshot.counters.unpriced_events,
        period_start: snapshot.period.start,
        resets_at: snapshot.period.resets_at,
        current_period_days: schedule.days,
        duration_begins_at: schedule.next.map(|n| n.from),
        budget_ceiling_micros: tenant.budget_ceiling_micros,
        can_set_ceiling: user.is_system_admin(),
        now: snapshot.now,
        alerts,
        trend: SpendTrend::build(snapshot.period.start, snapshot.now, before_window, &in_window),
        litellm_synced: litellm_key.is_some(),
        spend_source,
    })
}

/// The message a successful save is answered with (and the page shows).
pub const SAVED_MESSAGE: &str = "Budget configuration updated successfully";

/// Saves a tenant's budget. The fields are the form's text, checked by the same
/// `BudgetConfig::parse` the browser runs while typing. With LiteLLM configured and a virtual
/// key on the tenant, the key is updated first and nothing is saved if that fails.
#[server(prefix = "/api", endpoint = "save_budget")]
pub async fn save_budget(
    tenant_id: String,
    max_budget: String,
    alert_threshold: String,
    grace_threshold: String,
    budget_duration: String,
) -> Result<String, AppError> {
    use super::{BudgetConfig, BudgetForm};
    use crate::auth::guard;
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let id = TenantId::parse(&tenant_id)?;
    guard::require_tenant(&user, &id)?;
    let form = BudgetForm { max_budget, alert_threshold, grace_threshold, budget_duration };
    let config = BudgetConfig::parse(&form).map_err(|errors| {
        errors.into_iter().next().map_or_else(|| AppError::bad_request("Invalid budget"), AppError::from)
    })?;
    super::manage::save(&state, &user, &id, Some(&config)).await?;
    if crate::ui::submitted_without_javascript().await {
        // A plain form post: back to the page, which shows the message from the URL.
        leptos_axum::redirect(&format!("/tenants/{id}/budget?saved=1"));
    }
    Ok(SAVED_MESSAGE.to_owned())
}

/// Sets the highest block amount tenant admins may save for a tenant (system admins only);
/// an empty `budget_ceiling` removes it.
#[server(prefix = "/api", endpoint = "save_budget_ceiling")]
pub async fn save_budget_ceiling(tenant_id: String, budget_ceiling: String) -> Result<String, AppError> {
    use crate::auth::guard;
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let id = TenantId::parse(&tenant_id)?;
    let ceiling = match budget_ceiling.trim() {
        "" => None,
        text => Some(super::rules::parse_usd("budget_ceiling", text)?),
    };
    super::manage::set_ceiling(&state, &user, &id, ceiling).await?;
    if crate::ui::submitted_without_javascript().await {
        leptos_axum::redirect(&format!("/tenants/{id}/budget?ceiling_saved=1"));
    }
    Ok(CEILING_SAVED_MESSAGE.to_owned())
}

/// The message a saved ceiling is answered with.
pub const CEILING_SAVED_MESSAGE: &str = "Budget ceiling updated";
