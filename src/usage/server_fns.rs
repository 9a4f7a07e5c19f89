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
