//! What every handler and server function shares: the database, the gate, the clock.

use crate::budgets::litellm::LiteLlm;
use crate::clock::Clock;
use crate::db::Db;
use crate::enforce::Gate;
use crate::error::AppError;
use crate::tenants::store::TenantDefaults;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

/// The application state; axum hands it to routes, Leptos provides it to server functions.
/// One `Arc`, so that the per-request copies every extractor takes cost one increment.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub struct AppParts {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    /// Admission and settlement of agent calls; the only way usage is recorded.
    pub gate: Gate,
    pub clock: Clock,
    /// Mark the session cookie `Secure` (set when users reach the console over HTTPS).
    pub secure_cookies: bool,
    /// LiteLLM's admin API, when configured: budgets are kept in step with virtual keys.
    pub litellm: Option<LiteLlm>,
    /// What tenants created from the console start with.
    pub tenant_defaults: TenantDefaults,
    /// The OpenAI-compatible proxy's upstreams and HTTP client.
    pub proxy: crate::proxy::Proxy,
    /// Who may read `/metrics`.
    pub metrics_access: crate::metrics::MetricsAccess,
}

/// The server function's view of the state.
pub fn app_state() -> Result<AppState, AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        AppError::internal()
    })
}
