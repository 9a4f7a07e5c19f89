//! Tollgate: per-tenant LLM token limits and USD budgets, enforced on every agent call.
//!
//! Each domain module (tenants, limits, usage, agents) holds its model, its pure rules, its
//! server-only store, its server functions and its components. `server` is the server-only
//! shell (CLI, database, router); `app` is the console's layout.

pub mod admin;
pub mod agents;
pub mod app;
pub mod auth;
pub mod error;
pub mod format;
pub mod limits;
pub mod tenants;
pub mod ui;
pub mod usage;
pub mod validation;

#[cfg(feature = "ssr")]
pub mod enforce;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
