//! Server functions about tenants.

use super::TenantLookup;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::server::state::app_state;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// Looks a tenant id up (the deploy modal asks while the admin types). An invalid id is a 422
/// naming `tenant_id`.
#[server(input = GetUrl, prefix = "/api", endpoint = "lookup_tenant")]
pub async fn lookup_tenant(tenant_id: String) -> Result<TenantLookup, AppError> {
    let state = app_state()?;
    let id = super::TenantId::parse(&tenant_id)?;
    let record = super::store::get(&state.db.pool, &id).await?;
    Ok(TenantLookup {
        tenant_id: id.to_string(),
        display_name: record.as_ref().map(|t| t.display_name.clone()),
        token_limit: record.and_then(|t| t.token_limit()).map(|l| l.get()),
    })
}
