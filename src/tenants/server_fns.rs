//! Server functions about tenants.

use super::{TenantLookup, TenantOverview};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// Looks a tenant id up, for the deploy modal (system admins only). An invalid id is a 422
/// naming `tenant_id`.
#[server(input = GetUrl, prefix = "/api", endpoint = "lookup_tenant")]
pub async fn lookup_tenant(tenant_id: String) -> Result<TenantLookup, AppError> {
    let state = crate::state::app_state()?;
    crate::auth::guard::require_system_admin(&state).await?;
    let id = super::TenantId::parse(&tenant_id)?;
    let record = super::store::get(&state.db.pool, &id).await?;
    Ok(TenantLookup {
        tenant_id: id.to_string(),
        display_name: record.as_ref().map(|t| t.display_name.clone()),
        token_limit: record.and_then(|t| t.token_limit()).map(|l| l.get()),
    })
}

/// One tenant's page: its current period's usage, mode, user overrides and agents. A tenant admin asking for
/// another tenant gets the same 404 as for a tenant that does not exist.
#[server(input = GetUrl, prefix = "/api", endpoint = "tenant_overview")]
pub async fn load_tenant_overview(tenant_id: String) -> Result<TenantOverview, AppError> {
    use crate::auth::guard;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let id = super::TenantId::parse(&tenant_id)?;
    guard::require_tenant(&user, &id)?;
    let snapshot = state.gate.usage_snapshot(&id).await?.ok_or_else(|| guard::not_found(&id))?;
    let agents = crate::agents::store::list_for_tenant(&state.db.pool, &id).await?;
    let overrides = crate::overrides::store::list(&state.db.pool, &id, snapshot.period.start).await?;
    Ok(TenantOverview {
        mode: snapshot.policy.mode_or(state.gate.default_mode()),
        mode_is_default: snapshot.policy.mode.is_none(),
        would_refuse_count: snapshot.counters.would_refuse_count,
        overrides,
        usage: snapshot.row(),
        period_start: snapshot.period.start,
        resets_at: snapshot.period.resets_at,
        now: snapshot.now,
        agents,
        unpriced_events: snapshot.counters.unpriced_events,
    })
}
