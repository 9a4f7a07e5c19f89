//! Reading the audit log: system admins read all of it (or one tenant's), tenant admins their
//! own tenant's.

use super::AuditPage;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// One page of the audit log, newest first. `tenant_id` empty means every tenant (system
/// admins only); `before` is the previous page's `next_before`.
#[server(input = GetUrl, prefix = "/api", endpoint = "list_audit")]
pub async fn list_audit(tenant_id: String, before: Option<i64>) -> Result<AuditPage, AppError> {
    use crate::auth::guard;
    use crate::tenants::TenantId;

    let state = crate::state::app_state()?;
    let user = guard::require_user(&state).await?;
    let tenant = if tenant_id.trim().is_empty() {
        if !user.is_system_admin() {
            return Err(AppError::forbidden("Only system admins can read the whole audit log"));
        }
        None
    } else {
        let id = TenantId::parse(&tenant_id)?;
        guard::require_tenant(&user, &id)?;
        Some(id)
    };
    Ok(super::store::list(&state.db.pool, tenant.as_ref(), before).await?)
}
