//! Tollgate: per-tenant LLM token limits and USD budgets, enforced on every agent call.
//!
//! Each domain module (tenants, limits, usage, agents, auth) holds its model, its pure rules,
//! its server-only store, its server functions and its components. `enforce` is the admission
//! gate, `api` the agent HTTP API in front of it, `server` the composition root (CLI, serve,
//! router) and `app` the console's layout. Dependencies run one way (README, "Architecture").

pub mod admin;
pub mod agents;
pub mod alerts;
pub mod api_tokens;
pub mod app;
pub mod audit;
pub mod auth;
pub mod budgets;
pub mod error;
pub mod format;
pub mod limits;
pub mod overrides;
pub mod tenants;
pub mod ui;
pub mod usage;
pub mod validation;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod enforce;
#[cfg(feature = "ssr")]
pub mod http_headers;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod proxy;
#[cfg(feature = "ssr")]
pub mod seed;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod state;

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A panic aborts (release builds), but its message still reaches the browser console.
    console_error_panic_hook::set_once();
    // The pages are lazy routes (`app.rs`): hydration waits for the current page's chunk.
    leptos::mount::hydrate_lazy(app::App);
}
