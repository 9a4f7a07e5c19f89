//! Operators' routes: `/healthz` (the process answers), `/readyz` (the database answers and
//! every migration is applied: route traffic here) and `/metrics` (Prometheus text).

use crate::error::UNAVAILABLE_RETRY_AFTER_SECS;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// 200 while the process serves requests; says nothing about the database.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 `{"status":"ready"}`, or 503 with `Retry-After` and the reason while the database is
/// unreachable or behind this build's migrations.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.readiness().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason})))
                    .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS));
            response
        }
    }
}

async fn metrics() -> Response {
    let body = crate::metrics::render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
