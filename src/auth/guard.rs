//! Authorisation for server functions: who is signed in, decided on the server from the
//! session, never from anything the browser sends.

use super::model::CurrentUser;
use super::store;
use crate::error::AppError;
use crate::state::AppState;
use crate::tenants::TenantId;
use tower_sessions::Session;

/// The session key holding the signed-in user's id.
pub const USER_ID_KEY: &str = "user_id";
/// The session key holding the user's session epoch at sign-in: raising the user's epoch
/// ("sign out everywhere", a new password) ends every session signed in before.
pub const SESSION_EPOCH_KEY: &str = "session_epoch";

/// The request's session (present on every request under the session layer).
pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>().await.map_err(|e| {
        tracing::error!(error = %e, "no session on the request; is the session layer installed?");
        AppError::internal()
    })
}

/// The signed-in user, if any. The user row is read on every request, so a deleted or
/// disabled user, a changed role or a "sign out everywhere" takes effect at once.
pub async fn current_user(state: &AppState) -> Result<Option<CurrentUser>, AppError> {
    let session = session().await?;
    let unreadable = |e: tower_sessions::session::Error| {
        tracing::warn!(error = %e, "unreadable session");
        AppError::internal()
    };
    let id = session.get::<i64>(USER_ID_KEY).await.map_err(unreadable)?;
    // Sessions from before epochs existed carry none: epoch 0, every user's first.
    let epoch = session.get::<i64>(SESSION_EPOCH_KEY).await.map_err(unreadable)?.unwrap_or(0);
    match id {
        Some(id) => Ok(store::session_user(&state.db.pool, id, epoch).await?),
        None => Ok(None),
    }
}

/// Any signed-in user; 401 otherwise.
pub async fn require_user(state: &AppState) -> Result<CurrentUser, AppError> {
    current_user(state).await?.ok_or_else(|| AppError::unauthorized("Sign in to use the console"))
}

/// A system admin; 401 when signed out, 403 for a tenant admin.
pub async fn require_system_admin(state: &AppState) -> Result<CurrentUser, AppError> {
    let user = require_user(state).await?;
    if user.is_system_admin() {
        Ok(user)
    } else {
        Err(AppError::forbidden("Only system admins can do this"))
    }
}

/// That the user may see this tenant. Another tenant's id answers exactly like a tenant
/// that does not exist, so a tenant admin cannot even learn which ids are taken.
pub fn require_tenant(user: &CurrentUser, tenant_id: &TenantId) -> Result<(), AppError> {
    if user.can_see_tenant(tenant_id.as_str()) {
        Ok(())
    } else {
        Err(not_found(tenant_id))
    }
}

pub fn not_found(tenant_id: &TenantId) -> AppError {
    AppError::not_found(format!("No tenant with id {tenant_id}"))
}
