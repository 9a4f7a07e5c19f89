//! The HTTP router: the console (Leptos pages and server functions), the agent API, health.

use crate::app::{shell, App};
use crate::auth::csrf::reject_cross_site_writes;
use crate::auth::session_store::DbSessionStore;
use crate::error::AppError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tollgate_session";
/// A session ends after this long without a request.
pub const SESSION_IDLE_HOURS: i64 = 8;

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // Server-side sessions in our database; the cookie holds only a random id.
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(SESSION_IDLE_HOURS)));
    // The console: pages and server functions, with sessions and the CSRF check.
    let console = Router::new()
        .leptos_routes(&state, routes, move || shell(options.clone()))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::map_response(server_fn_error_status))
        .layer(middleware::from_fn(reject_cross_site_writes))
        .layer(sessions);
    // The agent API authenticates by key alone: it skips the console's layers, which keeps
    // the check path short.
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(crate::api::agent::routes())
        .merge(console)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Server functions answer every error with 500; this gives each its own status (422 for a
/// bad field, 404, 409, …) from the `AppError` in the body, so bad input is never a 500.
async fn server_fn_error_status(response: Response) -> Response {
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        err.add_headers(&mut parts.headers);
    }
    Response::from_parts(parts, Body::from(bytes))
}
