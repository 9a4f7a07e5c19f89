//! Every change a console user makes to a tenant's token limit, mode and user overrides,
//! whether through the console or the automation API: who may, one transaction with its audit
//! entry, then the gate told, so the next check in this process decides by the new settings.
//! (Other processes see changes within their refresh; the CLI and seed files write directly.)

use super::{EnforcementMode, TokenLimit};
use crate::auth::guard::{not_found, require_tenant};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::overrides::store::{self as overrides, SetKind, SetOutcome};
use crate::state::AppState;
use crate::tenants::{store as tenants, TenantId};

/// A tenant's own settings are for system admins (a tenant admin is refused whichever tenant
/// they name: they can change none, so the answer tells them nothing).
fn require_tenant_settings(user: &CurrentUser, id: &TenantId) -> Result<(), AppError> {
    if !user.is_system_admin() {
        return Err(AppError::forbidden("Only system admins can change a tenant's token limit or enforcement mode"));
    }
    require_tenant(user, id)
}

/// Sets (or with `None` removes) the tenant's token limit.
pub async fn set_token_limit(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    limit: Option<TokenLimit>,
) -> Result<(), AppError> {
    change_tenant(state, user, id, TenantSetting::TokenLimit(limit)).await?;
    tracing::info!(by = %user.username, tenant_id = %id, token_limit = ?limit.map(TokenLimit::get), "token limit changed");
    Ok(())
}

/// Sets the tenant's enforcement mode (`None`: the server's default).
pub async fn set_mode(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    mode: Option<EnforcementMode>,
) -> Result<(), AppError> {
    change_tenant(state, user, id, TenantSetting::Mode(mode)).await?;
    tracing::info!(by = %user.username, tenant_id = %id, mode = ?mode, "enforcement mode changed");
    Ok(())
}

/// A tenant's own setting, as system admins change it.
enum TenantSetting {
    TokenLimit(Option<TokenLimit>),
    Mode(Option<EnforcementMode>),
}

/// One change to a tenant's own settings: permission, the write and its audit entry in one
/// transaction, then the gate told.
async fn change_tenant(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    setting: TenantSetting,
) -> Result<(), AppError> {
    require_tenant_settings(user, id)?;
    let (actor, now) = (&user.username, state.clock.now_ms());
    let mut tx = state.db.begin_write().await?;
    let found = match setting {
        TenantSetting::TokenLimit(limit) => tenants::set_token_limit(&mut tx, id, limit, actor, now).await?,
        TenantSetting::Mode(mode) => tenants::set_enforcement_mode(&mut tx, id, mode, actor, now).await?,
    };
    if !found {
        return Err(not_found(id));
    }
    tx.commit().await?;
    state.gate.tenant_changed(id).await?;
    Ok(())
}

/// Sets a user's override (system admins, and tenant admins for their own tenant's users);
/// answers the limit before (`None`: the user had none). With `SetKind::CreateOnly` a user who
/// already has one is a 409 and nothing changes.
pub async fn set_override(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    user_id: &str,
    limit: TokenLimit,
    kind: SetKind,
) -> Result<Option<i64>, AppError> {
    require_tenant(user, id)?;
    let mut tx = state.db.begin_write().await?;
    let before = match overrides::set(&mut tx, id, user_id, limit, kind, &user.username, state.clock.now_ms()).await? {
        SetOutcome::NoSuchTenant => return Err(not_found(id)),
        SetOutcome::TooMany => return Err(too_many_overrides(id)),
        SetOutcome::Exists { .. } => {
            return Err(AppError::Conflict {
                field: Some("user_id".into()),
                message: format!("User {user_id} of tenant {id} already has an override; PUT changes it"),
            })
        }
        SetOutcome::Set { before } => before,
    };
    tx.commit().await?;
    state.gate.tenant_changed(id).await?;
    tracing::info!(by = %user.username, tenant_id = %id, user_id, token_limit = limit.get(), "user override set");
    Ok(before)
}

/// The answer to a new override beyond the most a tenant may have.
pub fn too_many_overrides(id: &TenantId) -> AppError {
    AppError::Conflict {
        field: Some("user_id".into()),
        message: format!(
            "tenant {id} already has {} user overrides, the most a tenant may have; remove one first",
            crate::overrides::MAX_OVERRIDES_PER_TENANT
        ),
    }
}

/// Removes a user's override; 404 when the user has none.
pub async fn remove_override(
    state: &AppState,
    user: &CurrentUser,
    id: &TenantId,
    user_id: &str,
) -> Result<(), AppError> {
    require_tenant(user, id)?;
    let mut tx = state.db.begin_write().await?;
    if !overrides::remove(&mut tx, id, user_id, &user.username, state.clock.now_ms()).await? {
        return Err(AppError::not_found(format!("User {user_id} of tenant {id} has no override")));
    }
    tx.commit().await?;
    state.gate.tenant_changed(id).await?;
    tracing::info!(by = %user.username, tenant_id = %id, user_id, "user override removed");
    Ok(())
}
