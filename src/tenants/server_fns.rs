//! Server functions about tenants.

use super::{TenantLookup, TenantOverview};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// Looks a tenant id up, for the deploy modal (system admins only). An invalid id is a 422
/// naming `tenant_id`.
#[server(input = GetUrl, prefix = "/api", endpoint = "lookup_tenant")]
pub async fn lookup_tenant(tenant_id: String) -> Result<TenantLookup, AppError> {
    let state = crate::server::state::app_state()?;
    crate::auth::guard::require_system_admin(&state).await?;
    let id = super::TenantId::parse(&tenant_id)?;
    let record = super::store::get(&state.db.pool, &id).await?;
    Ok(TenantLookup {
        tenant_id: id.to_string(),
        display_name: record.as_ref().map(|t| t.display_name.clone()),
        token_limit: record.and_then(|t| t.token_limit()).map(|l| l.get()),
    })
}

/// One tenant's page: its current period's usage and its agents. A tenant admin asking for
/// another tenant gets the same 404 as for a tenant that does not exist.
#[server(input = GetUrl, prefix = "/api", endpoint = "tenant_overview")]
pub async fn load_tenant_overview(tenant_id: String) -> Result<TenantOverview, AppError> {
    use crate::limits::period::current_period;

    let state = crate::server::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let id = super::TenantId::parse(&tenant_id)?;
    crate::auth::guard::require_tenant(&user, &id)?;
    let pool = &state.db.pool;
    let tenant = super::store::get(pool, &id).await?.ok_or_else(|| crate::auth::guard::not_found(&id))?;
    let now = state.clock.now_ms();
    let period = current_period(tenant.period_anchor, tenant.period_days(), now);
    let counters = crate::usage::store::period_counters(pool, id.as_str(), period.start).await?;
    let agents = crate::agents::store::list_for_tenant(pool, id.as_str()).await?;
    Ok(TenantOverview {
        usage: crate::usage::UsageRow {
            tenant_id: tenant.id.clone(),
            display_name: tenant.display_name.clone(),
            input_tokens: counters.input_tokens,
            output_tokens: counters.output_tokens,
            total_tokens: counters.input_tokens + counters.output_tokens,
            reserved_tokens: state
                .enforcer
                .reserved_in_memory(id.as_str())
                .map_or(counters.reserved_tokens, |r| r as i64),
            cost_micros: counters.cost_micros,
            token_limit: tenant.token_limit().map(|l| l.get()),
        },
        period_start: period.start,
        resets_at: period.resets_at,
        now,
        agents,
    })
}
