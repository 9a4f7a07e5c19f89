//! The OpenAPI document of every machine-facing route: the agent API, the automation API, the
//! OpenAI-compatible proxy and the operators' routes, gathered from the handlers' `#[utoipa::path]` annotations as the
//! routes are registered (`utoipa_axum::routes!`), so a route cannot be served without being
//! described. Served at `/api/openapi.json`. (The console's server functions are the
//! console's private calls and change with it; they are not part of this contract.)

use crate::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The path the document is served at.
pub const PATH: &str = "/api/openapi.json";

/// The described routes and their document (which describes itself too).
pub fn router() -> (axum::Router<AppState>, OpenApi) {
    let (api, mut doc) = OpenApiRouter::new()
        .merge(super::health::routes())
        .merge(super::agent::routes())
        .merge(super::client::routes())
        .merge(crate::proxy::routes::routes())
        .split_for_parts();
    let (own, own_doc) = OpenApiRouter::<AppState>::new().routes(routes!(openapi_json)).split_for_parts();
    doc.merge(own_doc);
    doc.info.title = "Tollgate".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "Per-tenant LLM token limits and USD budgets. Agents call /api/agent/usage/* (or the OpenAI-compatible /v1/*) \
         with their agent key; scripts call /api/client/usage/* with a personal API token from the console's API tokens page."
            .into(),
    );
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = |what: &str| {
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build())
    };
    components.add_security_scheme("agent_key", bearer("An agent's API key (tg_…), from the deploy dialog"));
    components.add_security_scheme("api_token", bearer("A console user's personal API token (tgp_…)"));
    // Written once; only the document's own route carries it.
    let text = Arc::new(serde_json::to_string(&doc).unwrap_or_default());
    (api.merge(own.layer(Extension(Document(text)))), doc)
}

#[derive(Clone)]
struct Document(Arc<String>);

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(Extension(Document(text)): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text.as_str().to_owned()).into_response()
}
