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
    let state = crate::server::state::app_state()?;
    let user = crate::auth::guard::require_user(&state).await?;
    let query = query.normalized();
    let mut page = super::store::list_usage(&state.db.pool, &query, user.tenant_scope(), state.clock.now_ms()).await?;
    for row in &mut page.rows {
        if let Some(reserved) = state.enforcer.reserved_in_memory(&row.tenant_id) {
            row.reserved_tokens = reserved as i64;
        }
    }
    Ok(page)
}
