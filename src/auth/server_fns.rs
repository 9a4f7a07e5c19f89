//! Signing in and out, and managing console users.

use super::model::{Account, CurrentUser};
use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

/// The signed-in user, or `None`.
#[server(input = GetUrl, prefix = "/api", endpoint = "current_user")]
pub async fn load_current_user() -> Result<Option<CurrentUser>, AppError> {
    let state = crate::state::app_state()?;
    super::guard::current_user(&state).await
}

/// Signs in and redirects to `next` (a path on this site). Attempts are throttled per account
/// and client address, per address, and slowed per account for browsers the user never
/// signed in from (`auth::throttle`); past a limit the answer is 429 with `Retry-After`.
/// The password is never logged.
#[server(prefix = "/api", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use super::guard::{session, SESSION_EPOCH_KEY, USER_ID_KEY};
    use super::model::safe_next;

    let state = crate::state::app_state()?;
    let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.unwrap_or_default();
    let device = super::sign_in::device_cookie(&headers);
    let address = client_address().await;
    let signed_in = super::sign_in::sign_in(&state, &username, password, &address, device.as_deref()).await?;
    let session = session().await?;
    // A new session id at sign-in, so an id planted before sign-in is worth nothing.
    session.cycle_id().await.map_err(session_error)?;
    session.insert(USER_ID_KEY, signed_in.user.user_id).await.map_err(session_error)?;
    session.insert(SESSION_EPOCH_KEY, signed_in.session_epoch).await.map_err(session_error)?;
    if let (Some(cookie), Some(response)) = (signed_in.device_cookie, use_context::<leptos_axum::ResponseOptions>()) {
        if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
            response.append_header(axum::http::header::SET_COOKIE, value);
        }
    }
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
pub async fn list_users() -> Result<Vec<Account>, AppError> {
    let state = crate::state::app_state()?;
    super::guard::require_system_admin(&state).await?;
    Ok(super::store::list(&state.db.pool).await?)
}

/// Disables or enables a console user, sets their password, or signs them out everywhere
/// (system admins only); answers what was done. `action` is `disable`, `enable`,
/// `set_password` (with `password`) or `sign_out_everywhere`.
#[server(prefix = "/api", endpoint = "manage_account")]
pub async fn manage_account(username: String, action: String, password: Option<String>) -> Result<String, AppError> {
    use super::accounts::{change, AccountAction};

    let state = crate::state::app_state()?;
    let admin = super::guard::require_system_admin(&state).await?;
    let action = AccountAction::parse(&action)?;
    change(&state.db, &admin.username, &username, action, password, state.clock.now_ms()).await?;
    let done = action.done(&username.trim().to_lowercase());
    if crate::ui::submitted_without_javascript().await {
        let query = form_urlencoded::Serializer::new(String::new()).append_pair("done", &done).finish();
        leptos_axum::redirect(&format!("/admin?{query}"));
    }
    Ok(done)
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
