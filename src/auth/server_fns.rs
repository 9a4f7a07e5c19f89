//! Signing in and out, and managing console users.

use super::model::CurrentUser;
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// The signed-in user, or `None`.
#[server(input = GetUrl, prefix = "/api", endpoint = "current_user")]
pub async fn load_current_user() -> Result<Option<CurrentUser>, AppError> {
    let state = crate::state::app_state()?;
    super::guard::current_user(&state).await
}

/// Signs in and redirects to `next` (a path on this site). Failures are counted per account
/// and per client address; past the limits the answer is 429 until the window has passed.
/// The password is never logged.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use super::guard::{session, USER_ID_KEY};
    use super::model::{safe_next, sign_in_allowed, SIGN_IN_WINDOW_MS};
    use super::{password as pw, store};
    use crate::validation::FieldError;

    let state = crate::state::app_state()?;
    let pool = &state.db.pool;
    let name = username.trim().to_lowercase();
    if name.is_empty() {
        return Err(FieldError::new("username", "required").into());
    }
    if password.is_empty() {
        return Err(FieldError::new("password", "required").into());
    }
    let now = state.clock.now_ms();
    let since = now - SIGN_IN_WINDOW_MS;
    let account_key = format!("user:{name}");
    let address_key = format!("addr:{}", client_address().await);
    let account_failures = store::failures_since(pool, &account_key, since).await?;
    let address_failures = store::failures_since(pool, &address_key, since).await?;
    if !sign_in_allowed(account_failures, address_failures) {
        tracing::warn!(username = %name, address = %address_key, "sign-in refused: too many failures");
        return Err(AppError::RateLimited {
            message: "Too many failed sign-ins. Wait 15 minutes and try again.".into(),
            retry_after_secs: (SIGN_IN_WINDOW_MS / 1000) as u64,
        });
    }
    let (user, hash) = match store::credentials(pool, &name).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let user = match user {
        Some(user) if pw::verify(password, hash).await => user,
        _ => {
            store::record_failure(pool, &[account_key, address_key], now, since).await?;
            tracing::info!(username = %name, "sign-in failed");
            return Err(AppError::unauthorized("Wrong user name or password"));
        }
    };
    store::clear_failures(pool, &account_key).await?;
    let session = session().await?;
    // A new session id at sign-in, so an id planted before sign-in is worth nothing.
    session.cycle_id().await.map_err(session_error)?;
    session.insert(USER_ID_KEY, user.user_id).await.map_err(session_error)?;
    tracing::info!(username = %user.username, "signed in");
    leptos_axum::redirect(&safe_next(next.as_deref().unwrap_or("/")));
    Ok(())
}

/// Ends the session and goes to the sign-in page.
#[server(prefix = "/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    let session = super::guard::session().await?;
    session.flush().await.map_err(session_error)?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

/// Every console user (system admins only).
#[server(input = GetUrl, prefix = "/api", endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<CurrentUser>, AppError> {
    let state = crate::state::app_state()?;
    super::guard::require_system_admin(&state).await?;
    Ok(super::store::list(&state.db.pool).await?)
}

/// Creates a tenant admin for an existing tenant (system admins only).
#[server(prefix = "/api", endpoint = "create_tenant_admin")]
pub async fn create_tenant_admin(
    username: String,
    tenant_id: String,
    password: String,
) -> Result<CurrentUser, AppError> {
    use super::model::{check_new_password, parse_username, Role};
    use crate::tenants::TenantId;
    use crate::validation::FieldError;

    let state = crate::state::app_state()?;
    let admin = super::guard::require_system_admin(&state).await?;
    let username = parse_username(&username)?;
    let tenant = TenantId::parse(&tenant_id)?;
    check_new_password(&password)?;
    if crate::tenants::store::get(&state.db.pool, &tenant).await?.is_none() {
        return Err(FieldError::new("tenant_id", format!("no tenant with id {tenant}")).into());
    }
    let role = Role::TenantAdmin { tenant_id: tenant.to_string() };
    let hash = super::password::hash(password).await?;
    let mut tx = state.db.begin_write().await?;
    let created = super::store::create(&mut tx, &username, &hash, &role, &admin.username, state.clock.now_ms()).await?;
    tx.commit().await?;
    let Some(user_id) = created else {
        return Err(AppError::Conflict {
            field: Some("username".into()),
            message: format!("the user name {username} is taken"),
        });
    };
    tracing::info!(by = %admin.username, username = %username, tenant_id = %tenant, "tenant admin created");
    Ok(CurrentUser { user_id, username, role })
}

#[cfg(feature = "ssr")]
fn session_error(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store failed");
    AppError::internal()
}

/// The client's IP address as the server sees the connection (no proxy headers are trusted).
#[cfg(feature = "ssr")]
async fn client_address() -> String {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    match leptos_axum::extract::<ConnectInfo<SocketAddr>>().await {
        Ok(ConnectInfo(addr)) => addr.ip().to_string(),
        Err(_) => "unknown".to_owned(),
    }
}
