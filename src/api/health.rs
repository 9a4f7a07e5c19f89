//! Operators' routes: `/healthz` (the process answers), `/readyz` (the database answers and
//! every migration is applied: route traffic here) and `/metrics` (Prometheus text).

use crate::error::UNAVAILABLE_RETRY_AFTER_SECS;
use crate::state::AppState;
use axum::extract::State;
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

/// Prometheus text exposition of every Tollgate metric (docs/operations.md lists them).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4")))]
async fn metrics() -> Response {
    let body = crate::metrics::render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
