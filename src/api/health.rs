//! Operators' routes: `/healthz` (the process answers), `/readyz` (the database answers and
//! every migration is applied: route traffic here) and `/metrics` (Prometheus text).

use crate::error::UNAVAILABLE_RETRY_AFTER_SECS;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(metrics))
}

/// 200 while the process serves requests; says nothing about the database.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`'s answer.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `unavailable`.
    status: &'static str,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// 200 `{"status":"ready"}`, or 503 with `Retry-After` and the reason while the database is
/// unreachable or behind this build's migrations.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "The database answers and every migration is applied", body = Readiness),
        (status = 503, description = "Not ready; `reason` says why, `Retry-After` when to look again", body = Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.readiness().await {
        Ok(()) => Json(Readiness { status: "ready", reason: None }).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            let body = Readiness { status: "unavailable", reason: Some(reason) };
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
            response
        }
    }
}

/// Prometheus text exposition of every Tollgate metric (docs/operations.md lists them). It
/// names tenants and their usage, so it is not for everyone: with `--metrics-token` scrapers
/// send `Authorization: Bearer <token>`; with `--metrics-addr` it is served on that address
/// only; with neither, only to clients on this machine.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "`--metrics-token` is set and the request does not carry it", body = String, content_type = "text/plain"),
        (status = 403, description = "Neither a token nor a metrics address is configured, and the client is not on this machine", body = String, content_type = "text/plain"),
        (status = 404, description = "`--metrics-addr` is set: the metrics are served there", body = String, content_type = "text/plain"),
    ))]
async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Response {
    metrics_answer(&state.metrics_access, false, peer, &headers)
}

/// `/metrics` as answered on the main listener or (`own_listener`) on `--metrics-addr`.
pub fn metrics_answer(
    access: &crate::metrics::MetricsAccess,
    own_listener: bool,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Response {
    let bearer = crate::api::auth::bearer(headers);
    match access.allows(own_listener, peer.ip().is_loopback(), bearer) {
        Ok(()) => {
            let body = crate::metrics::render();
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
        }
        Err("not_here") => (StatusCode::NOT_FOUND, "The metrics are served on the metrics address").into_response(),
        Err("token") => {
            (StatusCode::UNAUTHORIZED, "Send the metrics token: Authorization: Bearer <token>").into_response()
        }
        Err(_) => (
            StatusCode::FORBIDDEN,
            "The metrics name tenants: read them from this machine, or configure --metrics-token or --metrics-addr",
        )
            .into_response(),
    }
}

/// The router of `--metrics-addr`: `/metrics` alone (the token still applies when set).
pub fn metrics_router(access: crate::metrics::MetricsAccess) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(
            move |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>, headers: axum::http::HeaderMap| {
                let access = access.clone();
                async move { metrics_answer(&access, true, peer, &headers) }
            },
        ),
    )
}
