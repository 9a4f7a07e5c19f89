//! Reading the audit log: system admins read all of it (or one tenant's), tenant admins their
//! own tenant's.

use super::AuditPage;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// One page of the audit log, newest first. `tenant_id` empty means every tenant (system
/// admins only); `before` is the previous page's `next_before`; `action` (a stored action
/// name) and `actor` (a user name, exactly), when not empty, keep only matching entries.
#[server(input = GetUrl, prefix = "/api", endpoint = "list_audit")]
pub async fn list_audit(
    tenant_id: String,
    before: Option<i64>,
    action: Option<String>,
    actor: Option<String>,
) -> Result<AuditPage, AppError> {
    use super::store::Filter;
    use super::AuditAction;
    use crate::auth::guard;
    use crate::tenants::TenantId;
    use crate::validation::{short_text, FieldError};

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
    let action = match action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(AuditAction::parse(a).ok_or_else(|| FieldError::new("action", format!("unknown action {a}")))?),
        None => None,
    };
    let actor = match actor.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => Some(short_text("actor", a, 100)?),
        None => None,
    };

    let filter = Filter { tenant: tenant.as_ref(), action, actor: actor.as_deref(), before };
    Ok(super::store::list(&state.db.pool, filter).await?)
}
