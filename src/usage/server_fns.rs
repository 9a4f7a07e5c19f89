//! Server functions for the usage table.

use super::model::{UsagePage, UsageQuery};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// One page of the usage table: every tenant's current-period usage with its limit,
/// filtered, sorted and paged on the server so it stays fast with thousands of tenants.
/// A tenant admin's table holds their own tenant only.
#[server(input = GetUrl, prefix = "/api", endpoint = "list_usage")]
pub async fn list_usage(query: UsageQuery) -> Result<UsagePage, AppError> {
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let scope = user.tenant_scope().map(TenantId::parse).transpose()?;
    state.gate.usage_page(&query.normalized(), scope.as_ref()).await
}

/// One tenant's usage by user and by model over `range` (`period`, `7d`, `24h`), for anyone
/// who may see the tenant.
#[server(input = GetUrl, prefix = "/api", endpoint = "usage_breakdown")]
pub async fn usage_breakdown(tenant_id: String, range: String) -> Result<super::breakdown::UsageBreakdown, AppError> {
    use super::breakdown::{UsageBreakdown, UsageRange, BREAKDOWN_ROWS};
    use crate::auth::guard;
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let id = TenantId::parse(&tenant_id)?;
    guard::require_tenant(&user, &id)?;
    let pool = &state.db.pool;
    let tenant = crate::tenants::store::get(pool, &id).await?.ok_or_else(|| guard::not_found(&id))?;
    let now = state.clock.now_ms();
    let range = UsageRange::parse(&range);
    let from = range.start(now, tenant.policy().period_at(now).start);
    Ok(UsageBreakdown {
        range,
        from,
        by_user: super::store::breakdown(pool, &id, from, true, BREAKDOWN_ROWS).await?,
        by_model: super::store::breakdown(pool, &id, from, false, BREAKDOWN_ROWS).await?,
    })
}
