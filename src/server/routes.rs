//! The HTTP router: the console (Leptos pages and server functions), the agent and automation
//! APIs, the OpenAI-compatible proxy (`/v1`), the browser bundle (`/pkg`), health.

use crate::app::{shell, App};
use crate::auth::csrf::reject_cross_site_writes;
use crate::auth::session_store::DbSessionStore;
use crate::error::AppError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::{middleware, Router};
use leptos::prelude::LeptosOptions;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "tollgate_session";
/// A session ends after this long without a request.
pub const SESSION_IDLE_HOURS: i64 = 8;

pub fn router(state: AppState) -> Router {
    crate::metrics::install();
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
        .layer(middleware::map_response(crate::http_headers::console_headers))
        .layer(middleware::from_fn(reject_cross_site_writes))
        .layer(sessions);
    // The agent and automation APIs authenticate by key or token alone: they skip the
    // console's layers, which keeps the check path short. So do the bundle's static files.
    let (api, _) = crate::api::openapi::router();
    Router::new()
        .merge(api)
        .merge(bundle(&state.leptos_options))
        .merge(console)
        .layer(middleware::from_fn(count_request))
        // Every request gets an id (the client's `x-request-id`, else a new UUID), carried by
        // its log span and sent back in the answer, so a client's report of a failure can be
        // found in the logs.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

/// Counts each request and its latency by route pattern (`/api/agent/usage/check`, never a
/// raw path with ids in it; pages and files without a pattern count as `other`).
async fn count_request(request: axum::extract::Request, next: middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_owned(), |p| p.as_str().to_owned());
    let method = crate::metrics::method_label(request.method().as_str());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::metrics::http_request(&route, method, response.status().as_u16(), started.elapsed());
    response
}

/// `/pkg`: the wasm, JavaScript and CSS of the console. Each file is sent precompressed (the
/// `.br` or `.gz` that `cargo leptos build --release --precompress` wrote beside it) when the
/// browser accepts it, and cached for a year when the build hashed the names, since a new build
/// has new names.
fn bundle(options: &LeptosOptions) -> Router<AppState> {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let cache_control = if options.hash_files { "public, max-age=31536000, immutable" } else { "no-cache" };
    Router::new().nest_service("/pkg", files).layer(middleware::map_response(
        move |mut response: Response| async move {
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
            headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
            response
        },
    ))
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
